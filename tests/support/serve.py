"""The tests' handle on a real ``distillery serve`` subprocess: the kernel's ``ServeProcess``.

Used by the server tests, the end-to-end session box and the uvicorn API test.
"""

from __future__ import annotations

from toolbox.serve_process import ServeFailed, ServeProcess, distillery_command, free_port

__all__ = ["DISTILLERY", "ServerNotReady", "ServerProcess", "free_port"]

DISTILLERY = distillery_command()[0]
ServerProcess = ServeProcess
ServerNotReady = ServeFailed
