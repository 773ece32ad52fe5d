

class Action:
    """The "Run code" message button. Helpers live outside the class, like in the Tool."""

    Valves = WardenValves

    def __init__(self) -> None:
        self.valves = self.Valves()

    async def action(
        self,
        body: dict,
        __user__: dict | None = None,
        __event_emitter__: Callable[[dict], Any] | None = None,
    ) -> None:
        """Run the last code block of the clicked message and append its output and files below it."""
        await run_action(self.valves, body, __user__, __event_emitter__)


_SHELL_TAGS = ("sh", "shell", "zsh", "console", "shell-session")
"""Fence tags that in LLM answers almost always mean a Bash script (safe-code-execution runs them with Bash too)."""
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_DETAILS = re.compile(r"<details\b[^>]*>(?:(?!<details\b).)*?</details>", re.DOTALL | re.IGNORECASE)
_PYTHON_HINTS = ("import ", "print(", "def ", "print ")
_BASH_HINTS = ("echo ", "if [", "; do", "esac", "$(", "fi\n")


def code_blocks(markdown: str) -> list[tuple[str, str]]:
    """Fenced code blocks as (tag, code), in order. Collapsed <details> sections (reasoning, tool calls) are skipped.
    Follows CommonMark: ``` or ~~~ fences, closed by a fence of the same character at least as long; an unclosed
    fence runs to the end."""
    text = markdown
    while True:
        stripped = _DETAILS.sub("", text)
        if stripped == text:
            break
        text = stripped
    blocks: list[tuple[str, str]] = []
    opening: str | None = None
    tag = ""
    lines: list[str] = []
    for line in text.split("\n"):
        match = _FENCE.match(line)
        if opening is None:
            if match and not (match.group(1)[0] == "`" and "`" in match.group(2)):
                opening, lines = match.group(1), []
                words = match.group(2).strip().strip("{}").split()
                tag = words[0].lower().lstrip(".") if words else ""
            continue
        if match and match.group(1)[0] == opening[0] and len(match.group(1)) >= len(opening) and not match.group(2).strip():
            blocks.append((tag, "\n".join(lines)))
            opening = None
        else:
            lines.append(line)
    if opening is not None:
        blocks.append((tag, "\n".join(lines)))
    return blocks


def language_index(runtimes: list[dict[str, Any]]) -> dict[str, str]:
    """Fence tag → Warden language, from the server's names and aliases."""
    index: dict[str, str] = {}
    for runtime in runtimes:
        name = str(runtime.get("language") or "")
        for key in [name, *(runtime.get("aliases") or [])]:
            index.setdefault(str(key).lower(), name)
    if "bash" in index.values():
        index.update({tag: "bash" for tag in _SHELL_TAGS})
    return index


def guess_language(code: str, index: dict[str, str]) -> str | None:
    """safe-code-execution's fallback for an untagged block: a shebang line, else Python-looking, else Bash-looking code."""
    first_line = code.strip().split("\n", 1)[0]
    if first_line.startswith("#!"):
        words = first_line[2:].split()
        if words and words[0].endswith("/env"):
            words = [w for w in words[1:] if not w.startswith("-")]
        interpreter = os.path.basename(words[0]) if words else ""
        if interpreter.startswith("python"):
            return index.get("python")
        if interpreter.endswith("sh"):
            return index.get("bash") or index.get(interpreter)
        if interpreter in index:
            return index[interpreter]
    if any(hint in code for hint in _PYTHON_HINTS):
        return index.get("python")
    if any(hint in code for hint in _BASH_HINTS):
        return index.get("bash")
    return None


def choose_code(markdown: str, index: dict[str, str]) -> tuple[str, str] | None:
    """(language, code) to run: the last block tagged with a language the server has; failing that, the last
    untagged block whose language can be guessed. Blocks tagged with anything else (json, output…) never run."""
    blocks = code_blocks(markdown)
    for tag, code in reversed(blocks):
        if tag in index and code.strip():
            return index[tag], code
    for tag, code in reversed(blocks):
        if not tag and code.strip() and (language := guess_language(code, index)):
            return language, code
    return None


def _human_size(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size / 1024 / 1024:.1f} MiB"


def _fence(text: str, tag: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{tag}\n{text.rstrip()}\n{ticks}"


def _output_markdown(outcome: Outcome, valves: WardenValves) -> str:
    """What is appended to the message: for the user now, and for the model in the rest of the conversation."""
    title = _title(outcome.language)
    parts = [f"\n\n---\n**I ran this {title} code on Warden.** {outcome.summary}"]
    if outcome.stdout:
        parts.append(_fence(elide(outcome.stdout, _MODEL_TEXT_LIMIT), "output"))
    if outcome.stderr:
        parts.append("stderr:\n" + _fence(elide(outcome.stderr, _MODEL_TEXT_LIMIT), "stderr"))
    if outcome.ran and not outcome.stdout and not outcome.stderr and not outcome.files:
        parts.append("It printed nothing.")
    if outcome.files:
        lines = ["**Files**:"]
        for f in outcome.files:
            text = f.inline_text()
            if f.is_image:
                lines.append(f"* \U0001f5bc `{f.name}` ({_human_size(f.size)}), shown with this message")
            elif text is not None:
                lines.append(f"* \U0001f4c4 `{f.name}` ({_human_size(f.size)}):\n{_fence(text, '')}")
            elif f.data is not None:
                lines.append(f"* \U0001f4be `{f.name}` ({_human_size(f.size)}), download it from the code-execution card")
            else:
                lines.append(f"* \U0001f4be `{f.name}` ({_human_size(f.size)}), too large to show here")
        if outcome.files_dropped:
            lines.append(f"* … and {outcome.files_dropped} more not shown (MAX_FILES_PER_EXECUTION)")
        parts.append("\n".join(lines))
    if valves.ADDITIONAL_CONTEXT.strip():
        parts.append(f"> {valves.ADDITIONAL_CONTEXT.strip()}")
    return "\n\n".join(parts) + "\n"


async def run_action(
    valves: WardenValves, body: dict, user: dict | None, emitter: Callable[[dict], Any] | None
) -> dict[str, Any]:
    """Find the code, run it, append the output. Returns {status, message, stdout, stderr} for the self-test."""
    events = Events(emitter, debug=False)

    async def refuse(kind: str, message: str) -> dict[str, Any]:
        await events.status(message, done=True)
        await events.notify("warning" if kind == "no_code" else "error", message)
        return {"status": kind, "message": message}

    try:
        valves = effective_valves(valves)
    except WardenError as e:
        return await refuse(e.kind, e.message)
    events = Events(emitter, valves.DEBUG)
    messages = body.get("messages") or []
    target = next((m for m in messages if body.get("id") and m.get("id") == body.get("id")), None)
    target = target or next((m for m in reversed(messages) if m.get("role") == "assistant"), None)
    if target is None or target.get("role") != "assistant":
        return await refuse("no_code", "Run code works on the model's answers; this message is not one.")
    chat_id = body.get("chat_id")
    await events.status("Looking for code to run…")
    try:
        index = language_index(await WardenClient(valves, user, chat_id).runtimes())
    except WardenError as e:
        return await refuse(e.kind, e.message)
    chosen = choose_code(str(target.get("content") or ""), index)
    if chosen is None:
        languages = ", ".join(sorted(set(index.values())))
        return await refuse("no_code", f"No code block this server can run was found in the message (languages: {languages}).")
    language, code = chosen
    outcome = await run_on_warden(valves, language, code, events, user, chat_id)
    if outcome.ran:
        await events.send("message", {"content": _output_markdown(outcome, valves)})
    return {"status": outcome.status, "message": outcome.summary, "stdout": outcome.stdout, "stderr": outcome.stderr}


if __name__ == "__main__":

    async def _self_test_run(language: str, code: str) -> dict[str, Any]:
        body = {"id": "m1", "messages": [{"id": "m1", "role": "assistant", "content": f"```{language}\n{code}```"}]}
        return await run_action(Action().valves, body, {"id": "self-test", "name": "self-test"}, None)

    _args = self_test_arguments("Warden run-code Action for Open WebUI.")
    sys.exit(self_test("function", _self_test_run, _args.debug, _args.self_test_filter))
