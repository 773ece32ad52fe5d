

_RUN_CODE_LANGUAGES_DEFAULT = "python, bash, javascript and the other languages installed on the Warden server"


class Tools:
    """Run-code toolkit for Open WebUI, backed by a Warden server.

    Open WebUI turns every callable attribute whose name does not start with "__" into a tool, so the helpers
    live outside this class.
    """

    Valves = WardenValves

    def __init__(self) -> None:
        self.valves = self.Valves()

    @property
    def valves(self) -> WardenValves:
        return self.__valves

    @valves.setter
    def valves(self, valves: WardenValves) -> None:
        # Open WebUI assigns the saved valves right before it reads the tools' docstrings.
        self.__valves = valves
        _describe_tools(valves)

    async def run_python_code(
        self,
        code: str,
        __user__: dict | None = None,
        __metadata__: dict | None = None,
        __event_emitter__: Callable[[dict], Any] | None = None,
    ) -> str:
        """
        Run a Python 3 program in a fresh, isolated sandbox and return what it printed.
        Use it to calculate, test code or check facts instead of guessing.
        Every call starts from scratch: no variables, files or packages carry over between calls,
        so send a complete script and print every result you need.
        Files the program writes to its working directory are shown to the user (images inline).

        :param code: The complete Python 3 program, run as a script (not a notebook cell: print results explicitly).
        :return: JSON with status ("success" when the program ran and exited with code 0), message, exit_code, stdout, stderr and files.
        """
        return await _run_tool(self.valves, "python", code, __user__, __metadata__, __event_emitter__)

    async def run_bash_command(
        self,
        command: str,
        __user__: dict | None = None,
        __metadata__: dict | None = None,
        __event_emitter__: Callable[[dict], Any] | None = None,
    ) -> str:
        """
        Run a Bash command line or script in a fresh, isolated Linux sandbox and return what it printed.
        Every call starts from scratch: no files, variables or installed packages carry over between calls.
        Files the commands write to the working directory are shown to the user (images inline).

        :param command: The Bash command line or script to run.
        :return: JSON with status ("success" when the script ran and exited with code 0), message, exit_code, stdout, stderr and files.
        """
        return await _run_tool(self.valves, "bash", command, __user__, __metadata__, __event_emitter__)

    async def run_code(
        self,
        language: str,
        code: str,
        __user__: dict | None = None,
        __metadata__: dict | None = None,
        __event_emitter__: Callable[[dict], Any] | None = None,
    ) -> str:
        """
        Run a complete program in any language installed on the Warden server, in a fresh, isolated sandbox, and return what it printed.
        Compiled languages (C, C++, Java) are compiled first; compiler errors come back in stderr.
        Every call starts from scratch: no files or state carry over between calls.
        Files the program writes to its working directory are shown to the user (images inline).
        Languages: python, bash, javascript and the other languages installed on the Warden server.

        :param language: Language name or alias, exactly as listed in this tool's description (e.g. "python", "javascript", "c++").
        :param code: The complete program source (for Java, a public class with a main method).
        :return: JSON with status ("success" when the program ran and exited with code 0), message, exit_code, stdout, stderr and files.
        """
        return await _run_tool(self.valves, language.strip().lower(), code, __user__, __metadata__, __event_emitter__)


_BASE_DOCS = {name: getattr(Tools, name).__doc__ for name in ("run_python_code", "run_bash_command", "run_code")}


def _describe_tools(valves: WardenValves, runtimes: list[dict[str, Any]] | None = None) -> None:
    """Rewrite the tools' descriptions (the docstring text before ':param') with what the model should know:
    the server's languages, the limits, and ADDITIONAL_CONTEXT. Open WebUI reads them on every request."""
    try:
        valves = effective_valves(valves)
    except WardenError:
        return  # the run itself reports the bad override
    if runtimes is None:
        cached = _RUNTIMES_CACHE.get((valves.WARDEN_URL.rstrip("/"), valves.WARDEN_API_KEY))
        runtimes = cached[1] if cached else None
    facts = ["The sandbox has network access." if valves.NETWORKING_ALLOWED else "The sandbox has no network access."]
    if valves.MAX_RUNTIME_SECONDS:
        facts.append(f"Runs are stopped after {valves.MAX_RUNTIME_SECONDS} seconds.")
    if valves.MAX_RAM_MEGABYTES:
        facts.append(f"Memory is limited to {valves.MAX_RAM_MEGABYTES} MB.")
    if valves.ADDITIONAL_CONTEXT.strip():
        facts.append(valves.ADDITIONAL_CONTEXT.strip())
    extra = "\n        ".join(facts)
    for name, doc in _BASE_DOCS.items():
        head, sep, tail = doc.partition("\n        :param")
        if name == "run_code" and runtimes:
            listed = "; ".join(
                f"{r['language']} {r.get('version', '')}".rstrip()
                + (f" (aliases: {', '.join(r['aliases'])})" if r.get("aliases") else "")
                for r in runtimes
                if r.get("language")
            )
            head = head.replace(_RUN_CODE_LANGUAGES_DEFAULT, listed)
        getattr(Tools, name).__doc__ = f"{head.rstrip()}\n        {extra}\n{sep}{tail}"


async def _run_tool(
    valves: WardenValves,
    language: str,
    code: str,
    user: dict | None,
    metadata: dict | None,
    emitter: Callable[[dict], Any] | None,
) -> str:
    try:
        valves = effective_valves(valves)
    except WardenError as e:
        events = Events(emitter, debug=False)
        await events.status(e.message, done=True)
        await events.notify("error", e.message)
        return json.dumps({"status": e.kind, "message": e.message}, ensure_ascii=False)
    chat_id = (metadata or {}).get("chat_id")
    try:
        _describe_tools(valves, await WardenClient(valves, user, chat_id).runtimes())
    except WardenError:
        pass  # the execute call below reports the same problem with full context
    outcome = await run_on_warden(valves, language, _strip_fences(code), Events(emitter, valves.DEBUG), user, chat_id)
    return _model_result(outcome, valves)


def _strip_fences(code: str) -> str:
    """Models sometimes wrap the code in a Markdown fence or single backticks; remove them."""
    text = code.strip()
    if text.startswith("```") and text.endswith("```") and len(text) > 6:
        first_newline = text.find("\n")
        return text[first_newline + 1 : -3].strip("\n") if first_newline != -1 else text[3:-3]
    if text.startswith("`") and text.endswith("`") and "\n" not in text:
        return text.strip("`")
    return code


def _model_result(outcome: Outcome, valves: WardenValves) -> str:
    """The JSON the model reads: what happened, the output, the files (small text files with their content)."""
    result: dict[str, Any] = {"status": outcome.status, "message": outcome.summary}
    if outcome.ran:
        result.update(
            language=outcome.language,
            exit_code=outcome.exit_code,
            stdout=elide(outcome.stdout, _MODEL_TEXT_LIMIT),
            stderr=elide(outcome.stderr, _MODEL_TEXT_LIMIT),
            execution_time_ms=outcome.execution_time_ms,
        )
        if outcome.truncated:
            result["output_truncated_by_server"] = True
    if outcome.files:
        result["files"] = [
            {"name": f.name, "size": f.size, "mime_type": f.mime_type, "shown_to_user": f.data is not None}
            | ({"content": text} if (text := f.inline_text()) is not None else {})
            for f in outcome.files
        ]
    if outcome.files_dropped:
        result["files_not_shown"] = outcome.files_dropped
    if valves.ADDITIONAL_CONTEXT.strip():
        result["notes"] = valves.ADDITIONAL_CONTEXT.strip()
    if valves.DEBUG:
        result["execution_id"] = outcome.execution_id
    return json.dumps(result, ensure_ascii=False)


if __name__ == "__main__":

    async def _self_test_run(language: str, code: str) -> dict[str, Any]:
        return json.loads(await Tools().run_code(language, code, __user__={"id": "self-test", "name": "self-test"}))

    _args = self_test_arguments("Warden run-code Tool for Open WebUI.")
    sys.exit(self_test("tool", _self_test_run, _args.debug, _args.self_test_filter))
