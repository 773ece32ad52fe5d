using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Warden.Core.Terminals;

/// <summary>
/// The user's notebook sessions (open-terminal's <c>/notebooks</c>): each is Warden's Python kernel, started by the agent
/// inside this user's sandbox as its child, so it has the user's uid, home and limits and dies with the sandbox. A session
/// belongs to the chat that opened it (<c>X-Session-Id</c>, or none) and to the sandbox it was opened in: any other chat,
/// and every chat once that sandbox is gone, is told "Session not found", exactly as for an id that never existed.
/// </summary>
public sealed partial class UserTerminal
{
    private readonly ConcurrentDictionary<string, NotebookOwner> _notebooks = new(StringComparer.Ordinal);

    private sealed record NotebookOwner(string Chat, int Incarnation);

    /// <summary>Starts a kernel for the notebook at <paramref name="path"/> (absolute, or relative to the home).</summary>
    public async Task<JsonElement> OpenNotebookAsync(string? sessionId, string path, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(path);
        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
        // The agent answers from the sandbox it runs in; the incarnation recorded is the one that answered.
        var result = await CallAsync(sessionId, "nb_open", new JsonObject { ["notebook"] = id, ["path"] = path }, cancellationToken).ConfigureAwait(false);
        foreach (var (stale, owner) in _notebooks)
            if (owner.Incarnation != Volatile.Read(ref _incarnation)) _notebooks.TryRemove(stale, out _);
        _notebooks[id] = new NotebookOwner(sessionId ?? "", Volatile.Read(ref _incarnation));
        return result;
    }

    /// <summary>Runs cell <paramref name="cellIndex"/> of the notebook file as it is now (with <paramref name="source"/> instead of its own, when given).</summary>
    /// <remarks>A running cell is a request in flight, so the sandbox is not reaped as idle under it, however long it runs.</remarks>
    public Task<JsonElement> ExecuteNotebookCellAsync(string? sessionId, string notebookId, int cellIndex, string? source, CancellationToken cancellationToken) =>
        CallAsync(sessionId, "nb_execute", OwnedNotebook(sessionId, notebookId, new JsonObject { ["cell_index"] = cellIndex, ["source"] = source }), cancellationToken);

    public Task<JsonElement> GetNotebookAsync(string? sessionId, string notebookId, CancellationToken cancellationToken) =>
        CallAsync(sessionId, "nb_get", OwnedNotebook(sessionId, notebookId, []), cancellationToken);

    /// <summary>Stops the notebook's kernel (a cell still running is killed with it).</summary>
    public async Task<JsonElement> DeleteNotebookAsync(string? sessionId, string notebookId, CancellationToken cancellationToken)
    {
        var result = await CallAsync(sessionId, "nb_close", OwnedNotebook(sessionId, notebookId, []), cancellationToken).ConfigureAwait(false);
        _notebooks.TryRemove(notebookId, out _);
        return result;
    }

    private JsonObject OwnedNotebook(string? sessionId, string notebookId, JsonObject arguments)
    {
        if (!_notebooks.TryGetValue(notebookId, out var owner) || owner.Chat != (sessionId ?? "") || owner.Incarnation != Volatile.Read(ref _incarnation)
            || !IsRunning)
            throw new TerminalException(TerminalFailure.NotFound, "Session not found");
        arguments["notebook"] = notebookId;
        return arguments;
    }
}
