"""The student agent: a small model, a box of tools over MCP, and a bounded loop.

Each step samples one candidate (or ``settings.sag_n`` for self-consistent action generation), turns
the replies into actions for the run's mode, votes (:mod:`student.sag`), executes the winner once and
shows the observation to the model. Bad output never ends a run: an unparseable reply, an unknown
tool, arguments that break the schema and tool errors all come back to the model as observations.
The run stops on a final answer, after ``max_steps``, when the token budget is spent, or when the
model endpoint itself fails (``stopped="error"``).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from student.actions import (
    Action,
    Candidate,
    CodeAction,
    FinalAnswer,
    ToolAction,
    action_schema,
    canonical_arguments,
    parse_code_reply,
    parse_json_reply,
    parse_tools_reply,
    validate_action,
)
from student.connection import (
    CALL_TOOL,
    META_TOOLS,
    SEARCH_TOOLS,
    BoxConnection,
    BoxTool,
    Observation,
    tool_from_hit,
)
from student.naming import NameMap
from student.prompts import PROMPT_VERSION, json_prompt, observation_message, tools_prompt
from student.sag import Vote, final_of, vote
from student.trace import AgentRun, AgentStep, Mode, StopReason
from toolbox.errors import LLMError
from toolbox.llm.base import ChatMessage, ChatModel, ToolCall
from toolbox.logging import get_logger
from toolbox.settings import SandboxSettings, StudentSettings

if TYPE_CHECKING:
    from student.codeact import CodeMode

__all__ = ["CORE_NAMESPACE", "ResponseFormatStyle", "RunState", "StudentAgent", "openai_tool"]

logger = get_logger("student.agent")
ResponseFormatStyle = Literal["json_object", "json_schema"]
"""How ``json`` mode sends its schema: llama.cpp's ``json_object`` + ``schema``, or OpenAI's ``json_schema``."""
CORE_NAMESPACE = "builtin"
"""Tools in this namespace are always offered, however large the box."""
REPEATED_CALL = "You made this same call before; its result is above. Give the final answer now."
REPEATED_CELL = "You ran this same code before; its result is above. Change the code, or give the final answer now."
# The model must not write the observation itself (small models do, inventing the output).
CODE_STOP = ["\nObservation:"]


def openai_tool(tool: BoxTool, name: str) -> dict[str, Any]:
    """``tool`` as an OpenAI chat-completions function tool called ``name``."""
    parameters = dict(tool.input_schema) or {"type": "object"}
    parameters.setdefault("type", "object")
    parameters.setdefault("properties", {})
    return {"type": "function", "function": {"name": name, "description": tool.description[:1024],
                                             "parameters": parameters}}


@dataclass
class RunState:
    """The mutable state of one run."""

    question: str
    messages: list[ChatMessage]
    steps: list[AgentStep] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tools_used: list[str] = field(default_factory=list)
    discovered: dict[str, BoxTool] = field(default_factory=dict)
    calls: set[tuple[str, str]] = field(default_factory=set)
    answer_only: bool = False  # set when the model repeats a call: nothing new can come of another one

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def used(self, name: str) -> None:
        if name not in META_TOOLS and name not in self.tools_used:
            self.tools_used.append(name)


class StudentAgent:
    """Runs a student model against a box (or no box) in one action mode."""

    def __init__(self, model: ChatModel, box: BoxConnection | None, *, mode: Mode, settings: StudentSettings,
                 sandbox_settings: SandboxSettings, model_name: str = "",
                 response_format_style: ResponseFormatStyle = "json_object") -> None:
        if mode not in ("tools", "json", "code"):
            raise ValueError(f"mode must be tools, json or code (resolve 'auto' with student.probe), got {mode!r}")
        self.model = model
        self.box = box
        self.mode: Mode = mode
        self.settings = settings
        self.sandbox_settings = sandbox_settings
        self.model_name = model_name or str(getattr(model, "model", ""))
        self.response_format_style = response_format_style

    async def run(self, question: str, *, system: str | None = None) -> AgentRun:
        """Answer ``question``; ``system`` replaces the mode's system prompt."""
        started = time.perf_counter()
        state = RunState(question=question, messages=[])
        if self.mode == "code":
            from student.codeact import open_code_mode  # needs the sandbox session only in this mode

            async with open_code_mode(self, state) as code:
                stopped, answer, error = await self._loop(state, system, code)
        else:
            stopped, answer, error = await self._loop(state, system, None)
        return AgentRun(
            question=question, mode=self.mode, answer=answer, stopped=stopped, error=error, steps=state.steps,
            messages=[m.to_openai() for m in state.messages], prompt_tokens=state.prompt_tokens,
            completion_tokens=state.completion_tokens, seconds=time.perf_counter() - started,
            tools_used=state.tools_used, model=self.model_name, prompt_version=PROMPT_VERSION)

    # -- tools offered -------------------------------------------------------------------------
    async def offered_tools(self, state: RunState) -> tuple[list[BoxTool], bool]:
        """The tools shown this step and whether the model must search for the rest.

        A box that lists more than ``search_threshold`` tools, or none besides the meta-tools (a
        server with ``listing="core"`` and no core set), starts from ``search_tools``.
        """
        if self.box is None:
            return [], False
        listed = await self.box.list_tools()
        box_tools = [tool for tool in listed if tool.name not in META_TOOLS]
        if 0 < len(box_tools) <= self.settings.search_threshold:
            offered = {tool.name: tool for tool in box_tools}
            offered.update({name: tool for name, tool in state.discovered.items() if name not in offered})
            return list(offered.values()), False
        meta = [tool for tool in listed if tool.name in META_TOOLS]
        core = [tool for tool in box_tools if tool.name.startswith(f"{CORE_NAMESPACE}.")]
        offered = {tool.name: tool for tool in [*meta, *core, *state.discovered.values()]}
        return list(offered.values()), True

    async def call_box(self, state: RunState, name: str, arguments: dict[str, Any]) -> Observation:
        """Call a box tool, remembering which tools were used and what ``search_tools`` found."""
        if self.box is None:
            return Observation(ok=False, text="ERROR: this run has no box; answer without tools.")
        observation = await self.box.call_tool(name, arguments)
        if name == CALL_TOOL:
            state.used(str(arguments.get("name", "")))
        else:
            state.used(name)
        if name == SEARCH_TOOLS and observation.ok and isinstance(observation.structured, dict):
            for hit in observation.structured.get("tools", []):
                if isinstance(hit, dict) and "name" in hit:
                    state.discovered.setdefault(str(hit["name"]), tool_from_hit(hit))
        return observation

    # -- sampling ------------------------------------------------------------------------------
    async def sample(self, state: RunState, **request: Any) -> list[ChatMessage]:
        """``settings.sag_n`` replies (several requests if the endpoint returns fewer choices)."""
        n = self.settings.sag_n
        sampling: dict[str, Any] = ({"temperature": self.settings.sag_temperature, "top_p": self.settings.sag_top_p}
                                    if n > 1 else {"temperature": self.settings.temperature})
        left = self.settings.token_budget - state.tokens
        max_tokens = max(16, min(self.settings.max_tokens, left))
        replies: list[ChatMessage] = []
        while len(replies) < n:
            response = await self.model.chat(state.messages, n=n - len(replies), max_tokens=max_tokens,
                                              **sampling, **request)
            state.prompt_tokens += response.usage.prompt_tokens
            state.completion_tokens += response.usage.completion_tokens
            if not response.choices:
                break
            replies.extend(choice.message for choice in response.choices)
        return replies[:n]

    # -- the tools / json loop ---------------------------------------------------------------
    async def _loop(self, state: RunState, system: str | None,
                    code: CodeMode | None) -> tuple[StopReason, str | None, str | None]:
        for index in range(self.settings.max_steps):
            if state.tokens >= self.settings.token_budget:
                return "budget", None, None
            tools, searchable = await self.offered_tools(state) if code is None else ([], False)
            known = {tool.name: tool for tool in tools}
            names = NameMap(known, style="function")
            if code is not None:
                prompt = system or code.prompt
            elif self.mode == "tools":
                prompt = system or tools_prompt(tools, searchable=searchable)
            else:
                prompt = system or json_prompt(tools, searchable=searchable)
            if not state.messages:
                state.messages = [ChatMessage.system(prompt), ChatMessage.user(state.question)]
            else:
                state.messages[0] = ChatMessage.system(prompt)
            before = (state.prompt_tokens, state.completion_tokens)
            try:
                request = {"stop": CODE_STOP} if code else self._request(tools, names, state.answer_only)
                replies = await self.sample(state, **request)
            except LLMError as error:
                logger.warning("the model endpoint failed: %s", error)
                return "error", None, str(error)
            candidates = [self._parse(i, reply, names) for i, reply in enumerate(replies)]

            async def execute(action: Action) -> Observation:
                if isinstance(action, CodeAction) and code is not None:
                    return await code.execute(action)
                if isinstance(action, ToolAction):
                    return await self.call_box(state, action.tool, action.arguments)
                return Observation(ok=False, text=f"ERROR: a {action.kind} action cannot run in {self.mode} mode.")

            def validate(action: Action, known: dict[str, BoxTool] = known, names: NameMap = names) -> str | None:
                return validate_action(action, known, names if self.mode == "tools" else None)

            outcome = await vote(candidates, validate, execute)
            outcome = self._note_repeat(state, outcome)
            self._record(state, index, outcome, before)
            self._remember(state, index, outcome, names)
            chosen = outcome.chosen.action if outcome.chosen else None
            if isinstance(chosen, FinalAnswer):
                return "answer", chosen.answer, None
            if isinstance(chosen, CodeAction) and final_of(outcome.observation) is not None:
                return "answer", final_of(outcome.observation), None
        return "max_steps", None, None

    @staticmethod
    def _note_repeat(state: RunState, outcome: Vote) -> Vote:
        """A tool call (or code cell) made before: say so; after a repeated call allow only an answer next."""
        action = outcome.chosen.action if outcome.chosen else None
        if isinstance(action, ToolAction):
            key, note = (action.tool, canonical_arguments(action.arguments)), REPEATED_CALL
        elif isinstance(action, CodeAction):
            key, note = ("", action.code.strip()), REPEATED_CELL
        else:
            return outcome
        repeated = key in state.calls
        state.calls.add(key)
        if not repeated:
            return outcome
        state.answer_only = isinstance(action, ToolAction)
        text = f"{outcome.observation.text}\n{note}"
        return dataclasses.replace(outcome, observation=outcome.observation.model_copy(update={"text": text}))

    def _request(self, tools: Sequence[BoxTool], names: NameMap, answer_only: bool = False) -> dict[str, Any]:
        if answer_only:
            tools = []
        if self.mode == "tools":
            return {"tools": [openai_tool(tool, names.safe(tool.name)) for tool in tools] or None}
        schema = action_schema(tools)
        if self.response_format_style == "json_schema":
            return {"response_format": {"type": "json_schema",
                                        "json_schema": {"name": "action", "schema": schema, "strict": False}}}
        return {"response_format": {"type": "json_object", "schema": schema}}

    def _parse(self, index: int, reply: ChatMessage, names: NameMap) -> Candidate:
        if self.mode == "tools":
            return parse_tools_reply(index, reply, names)
        if self.mode == "json":
            return parse_json_reply(index, reply.content, names)
        return parse_code_reply(index, reply.content)

    def _record(self, state: RunState, index: int, outcome: Vote, before: tuple[int, int]) -> None:
        chosen = outcome.chosen
        state.steps.append(AgentStep(
            index=index, candidates=outcome.traces, action=chosen.action if chosen else None,
            observation=outcome.observation.text, ok=outcome.observation.ok,
            prompt_tokens=state.prompt_tokens - before[0], completion_tokens=state.completion_tokens - before[1]))

    def _remember(self, state: RunState, index: int, outcome: Vote, names: NameMap) -> None:
        """Append the chosen reply and its observation to the conversation."""
        chosen = outcome.chosen
        action = chosen.action if chosen else None
        raw = chosen.raw if chosen else (outcome.traces[0].raw if outcome.traces else "")
        text = outcome.observation.text
        if self.mode == "tools" and isinstance(action, ToolAction) and action.tool in names:
            call = ToolCall(id=f"call_{index}", name=names.safe(action.tool), arguments=json.dumps(action.arguments))
            state.messages.append(ChatMessage.assistant(chosen.thought if chosen else None, [call]))
            state.messages.append(ChatMessage.tool(call.id, text, name=call.name))
            return
        state.messages.append(ChatMessage.assistant(raw or "(empty reply)"))
        if not isinstance(action, FinalAnswer):
            state.messages.append(ChatMessage.user(observation_message(text)))
