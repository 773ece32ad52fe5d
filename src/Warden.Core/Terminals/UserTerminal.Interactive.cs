using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text.Json.Nodes;

namespace Warden.Core.Terminals;

// Interactive terminals: PTYs in this user's sandbox, each owned by the chat that opened it.
public sealed partial class UserTerminal
{
    private readonly ConcurrentDictionary<string, InteractiveTerminal> _interactive = new(StringComparer.Ordinal);
    private readonly Lock _interactiveAdmission = new();

    /// <summary>Whether a WebSocket is attached to one of the user's terminals: that is activity, so the sandbox is not reaped under it.</summary>
    internal bool HasAttachedInteractive => _interactive.Values.Any(t => t is { IsAttached: true, HasEnded: false });

    /// <summary>
    /// Opens a login shell on a PTY in the user's sandbox, in <paramref name="directory"/> (inside the home) or the
    /// chat's working directory.
    /// </summary>
    /// <exception cref="TerminalException">TooManyTerminals at <see cref="TerminalOptions.MaxInteractivePerUser"/>; NotFound or Forbidden for a bad directory.</exception>
    public async Task<InteractiveTerminal> OpenInteractiveAsync(string? sessionId, string? directory, int cols, int rows, CancellationToken cancellationToken)
    {
        ThrowIfClosed();
        Touch();
        var agent = await EnsureStartedAsync(cancellationToken).ConfigureAwait(false);
        var terminal = new InteractiveTerminal(Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8)), sessionId, _time.GetUtcNow(), agent,
            _options.PtyWindowBytes, Touch);
        lock (_interactiveAdmission)
        {
            Prune();
            if (_interactive.Count >= _options.MaxInteractivePerUser)
                throw new TerminalException(TerminalFailure.TooManyTerminals, $"Maximum number of terminal sessions ({_options.MaxInteractivePerUser}) reached");
            _interactive[terminal.Id] = terminal;
        }
        agent.Register(terminal);
        try
        {
            var cwd = WorkingDirectory(sessionId);
            var result = await agent.CallAsync("pty_open", new JsonObject
            {
                ["terminal"] = terminal.Id, ["dir"] = directory, ["cols"] = Math.Clamp(cols, 1, 1000), ["rows"] = Math.Clamp(rows, 1, 1000),
                ["cwd"] = cwd, ["make_cwd"] = sessionId is not null && cwd == DefaultDirectory(sessionId), ["max_bytes"] = _options.MaxFileBytes,
            }, cancellationToken).ConfigureAwait(false);
            terminal.Pid = result.GetProperty("pid").GetInt32();
            return terminal;
        }
        catch
        {
            _interactive.TryRemove(terminal.Id, out _);
            agent.Unregister(terminal.Id);
            throw;
        }
        finally
        {
            Touch();
        }
    }

    /// <summary>The chat's live terminals (open-terminal after 0.11.34 scopes them by user and chat).</summary>
    public IReadOnlyList<InteractiveTerminal> ListInteractive(string? sessionId)
    {
        Prune();
        return _interactive.Values.Where(t => !t.HasEnded && t.SessionId == sessionId).OrderBy(t => t.CreatedAt).ToList();
    }

    /// <summary>
    /// One of the user's live terminals by id; null when there is none (or it has ended), or when <paramref name="sessionId"/>
    /// is given and another chat created it. <paramref name="anyChat"/>: a WebSocket attach that names no chat.
    /// </summary>
    public InteractiveTerminal? FindInteractive(string id, string? sessionId, bool anyChat = false)
    {
        ArgumentNullException.ThrowIfNull(id);
        if (!_interactive.TryGetValue(id, out var terminal) || terminal.HasEnded) return null;
        return anyChat || terminal.SessionId == sessionId ? terminal : null;
    }

    /// <summary>Ends a terminal: its shell and everything left in its session are killed. False when the chat has no such terminal.</summary>
    public async Task<bool> CloseInteractiveAsync(string id, string? sessionId, CancellationToken cancellationToken)
    {
        if (FindInteractive(id, sessionId) is not { } terminal || !_interactive.TryRemove(id, out _)) return false;
        Touch();
        if (Volatile.Read(ref _agent) is { Gone.IsCompleted: false } agent)
        {
            try
            {
                await agent.CallAsync("pty_close", new JsonObject { ["terminal"] = id }, cancellationToken).ConfigureAwait(false);
            }
            catch (TerminalException e) when (e.Failure is TerminalFailure.NotFound or TerminalFailure.SandboxUnavailable)
            {
                // It ended on its own meanwhile, or the sandbox is gone and took it along.
            }
        }
        // The agent answers once the session is killed; its exit event follows at once (a stuck sandbox: the answer is not held up).
        await Task.WhenAny(terminal.Ended, Task.Delay(TimeSpan.FromSeconds(10), cancellationToken)).ConfigureAwait(false);
        return true;
    }

    private void Prune()
    {
        foreach (var (id, terminal) in _interactive)
            if (terminal.HasEnded) _interactive.TryRemove(id, out _);
    }
}
