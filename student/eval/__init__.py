"""The evaluation harness: the student with the box against matched-compute baselines, honestly scored.

:mod:`student.eval.cli` is ``distillery eval``; :func:`student.eval.evaluate.evaluate` runs one
invocation; :func:`student.eval.runner.run_system` runs one system resumably; scoring is only ever
``toolbox.tasks.score``.
"""
