using System.Diagnostics;
using System.Text.Json;

namespace Warden.Server.Tests.OpenTerminal;

/// <summary>
/// open-terminal's /notebooks on Warden: a session per .ipynb in the caller's home, Warden's Python kernel running inside
/// the caller's own sandbox, the file rewritten in place (nbformat 4) after every cell, scoped to one user and one chat.
/// </summary>
public sealed class NotebookTests(SharedTerminalServer fixture) : IClassFixture<SharedTerminalServer>
{
    private TerminalTestServer Terminal => fixture.Server;

    internal static string Notebook(params string[] codeCells) => JsonSerializer.Serialize(new
    {
        nbformat = 4, nbformat_minor = 5,
        metadata = new { kernelspec = new { name = "python3", display_name = "Python 3", language = "python" } },
        cells = codeCells.Select((source, i) => source.StartsWith("# md", StringComparison.Ordinal)
            ? (object)new { cell_type = "markdown", id = $"c{i}", metadata = new { }, source }
            : new { cell_type = "code", id = $"c{i}", metadata = new { }, source, outputs = Array.Empty<object>(), execution_count = (int?)null }).ToArray(),
    });

    internal static async Task<string> OpenAsync(TerminalClient client, string path, params string[] cells)
    {
        var (written, _) = await client.PostAsync("files/write", new { path, content = Notebook(cells) });
        Assert.Equal(200, written);
        var (status, session) = await client.PostAsync("notebooks", new { path });
        Assert.True(status == 200, $"create_notebook_session returned {status}: {session}");
        Assert.Equal("ready", session.GetProperty("status").GetString());
        Assert.Equal("python3", session.GetProperty("kernel").GetString());
        return session.GetProperty("id").GetString()!;
    }

    internal static async Task<JsonElement> ExecuteAsync(TerminalClient client, string id, int cell, string? source = null)
    {
        var (status, result) = await client.PostAsync($"notebooks/{id}/execute", source is null ? new { cell_index = cell } : new { cell_index = cell, source });
        Assert.True(status == 200, $"execute_notebook_cell returned {status}: {result}");
        return result;
    }

    /// <summary>Warden kernels running in the client's sandbox, counted from /proc (the Docker runtime image has no ps).</summary>
    internal static async Task<int> KernelsAsync(TerminalClient client)
    {
        var counted = TerminalClient.Stdout(await client.RunAsync("grep -l '[w]arden_kernel' /proc/[0-9]*/cmdline 2>/dev/null | wc -l")).Trim();
        return int.Parse(counted, System.Globalization.CultureInfo.InvariantCulture);
    }

    private static async Task<JsonElement> ReadNotebookAsync(TerminalClient client, string path)
    {
        var (status, read) = await client.GetAsync($"files/read?path={Uri.EscapeDataString(path)}");
        Assert.Equal(200, status);
        return JsonDocument.Parse(read.GetProperty("content").GetString()!).RootElement.Clone();
    }

    private static string Text(JsonElement value) =>
        value.ValueKind == JsonValueKind.Array ? string.Concat(value.EnumerateArray().Select(s => s.GetString())) : value.GetString()!;

    [Fact]
    public async Task Notebook_CreateExecuteGetDelete_KeepsStateAndRewritesTheFileWithOutputs()
    {
        using var alice = Terminal.For("nb-alice", chatId: "chat-1");
        const string path = "/home/user/work/analysis.ipynb";
        var id = await OpenAsync(alice, path, "x = 21\nprint('hello from', 'cell 0')", "x * 2", "# md a note");
        Assert.Matches("^[0-9a-f]{12}$", id);

        var first = await ExecuteAsync(alice, id, 0);
        Assert.Equal("ok", first.GetProperty("status").GetString());
        Assert.Equal(1, first.GetProperty("execution_count").GetInt32());
        var stream = Assert.Single(first.GetProperty("outputs").EnumerateArray());
        Assert.Equal("stream", stream.GetProperty("output_type").GetString());
        Assert.Equal("stdout", stream.GetProperty("name").GetString());
        Assert.Equal("hello from cell 0\n", stream.GetProperty("text").GetString());

        // State is kept between cells: x from cell 0.
        var second = await ExecuteAsync(alice, id, 1);
        Assert.Equal(2, second.GetProperty("execution_count").GetInt32());
        var result = Assert.Single(second.GetProperty("outputs").EnumerateArray());
        Assert.Equal("execute_result", result.GetProperty("output_type").GetString());
        Assert.Equal(2, result.GetProperty("execution_count").GetInt32());
        Assert.Equal("42", result.GetProperty("data").GetProperty("text/plain").GetString());

        // A source given with the request replaces the cell's, in the answer and in the file; a markdown cell just saves.
        var replaced = await ExecuteAsync(alice, id, 1, "x + 1");
        Assert.Equal("22", replaced.GetProperty("outputs")[0].GetProperty("data").GetProperty("text/plain").GetString());
        var markdown = await ExecuteAsync(alice, id, 2);
        Assert.Equal("ok", markdown.GetProperty("status").GetString());
        Assert.Equal(JsonValueKind.Null, markdown.GetProperty("execution_count").ValueKind);
        Assert.Empty(markdown.GetProperty("outputs").EnumerateArray());

        // The file on disk, read back through the files API, is nbformat 4 with the outputs and execution counts.
        var nb = await ReadNotebookAsync(alice, path);
        Assert.Equal(4, nb.GetProperty("nbformat").GetInt32());
        var cells = nb.GetProperty("cells");
        Assert.Equal(3, cells.GetArrayLength());
        Assert.Equal(1, cells[0].GetProperty("execution_count").GetInt32());
        Assert.Equal("hello from cell 0\n", Text(cells[0].GetProperty("outputs")[0].GetProperty("text")));
        Assert.Equal("x + 1", Text(cells[1].GetProperty("source")));
        Assert.Equal(3, cells[1].GetProperty("execution_count").GetInt32());
        Assert.Equal("22", Text(cells[1].GetProperty("outputs")[0].GetProperty("data").GetProperty("text/plain")));
        Assert.Equal("c1", cells[1].GetProperty("id").GetString());
        Assert.Equal("python3", nb.GetProperty("metadata").GetProperty("kernelspec").GetProperty("name").GetString());

        var (got, session) = await alice.GetAsync($"notebooks/{id}");
        Assert.Equal(200, got);
        Assert.Equal(id, session.GetProperty("id").GetString());
        Assert.Equal(path, session.GetProperty("path").GetString());
        Assert.Equal("python3", session.GetProperty("kernel").GetString());
        Assert.Equal("ready", session.GetProperty("status").GetString());

        Assert.Equal(1, await KernelsAsync(alice));
        var (deleted, stopped) = await alice.SendAsync(HttpMethod.Delete, $"notebooks/{id}");
        Assert.Equal(200, deleted);
        Assert.Equal("stopped", stopped.GetProperty("status").GetString());
        var (after, problem) = await alice.GetAsync($"notebooks/{id}");
        Assert.Equal(404, after);
        Assert.Equal("Session not found", problem.GetProperty("detail").GetString());
        Assert.Equal(404, (await alice.PostAsync($"notebooks/{id}/execute", new { cell_index = 0 })).Status);
        Assert.Equal(404, (await alice.SendAsync(HttpMethod.Delete, $"notebooks/{id}")).Status);
        // The kernel went with the session: no Warden kernel is left in the sandbox.
        Assert.Equal(0, await KernelsAsync(alice));
    }

    [Fact]
    public async Task ErrorCell_AnswersWithNbformatErrorOutput_AndIsSavedWithIt()
    {
        using var alice = Terminal.For("nb-error", chatId: "chat-1");
        const string path = "/home/user/error.ipynb";
        var id = await OpenAsync(alice, path, "def divide(a, b):\n    return a / b", "print('before')\ndivide(1, 0)");
        await ExecuteAsync(alice, id, 0);
        var failed = await ExecuteAsync(alice, id, 1);
        Assert.Equal("error", failed.GetProperty("status").GetString());
        Assert.Equal(2, failed.GetProperty("execution_count").GetInt32());
        var outputs = failed.GetProperty("outputs").EnumerateArray().ToList();
        Assert.Equal(2, outputs.Count);
        Assert.Equal("before\n", outputs[0].GetProperty("text").GetString());
        var error = outputs[1];
        Assert.Equal("error", error.GetProperty("output_type").GetString());
        Assert.Equal("ZeroDivisionError", error.GetProperty("ename").GetString());
        Assert.Equal("division by zero", error.GetProperty("evalue").GetString());
        var traceback = error.GetProperty("traceback").EnumerateArray().Select(l => l.GetString()!).ToList();
        Assert.Contains(traceback, l => l.Contains("in divide", StringComparison.Ordinal));
        Assert.Equal("ZeroDivisionError: division by zero", traceback[^1]);
        // The kernel's own frames are not shown to the user.
        Assert.DoesNotContain(traceback, l => l.Contains("warden_kernel", StringComparison.Ordinal));

        var nb = await ReadNotebookAsync(alice, path);
        Assert.Equal("ZeroDivisionError", nb.GetProperty("cells")[1].GetProperty("outputs")[1].GetProperty("ename").GetString());
        // The kernel lives on after an error.
        var after = await ExecuteAsync(alice, id, 0, "divide(9, 3)");
        Assert.Equal("3.0", after.GetProperty("outputs")[0].GetProperty("data").GetProperty("text/plain").GetString());
        await alice.SendAsync(HttpMethod.Delete, $"notebooks/{id}");
    }

    [Fact]
    public async Task Notebooks_AndProcesses_OfAnotherChatOrUser_AnswerLikeMissingOnes()
    {
        using var chat1 = Terminal.For("nb-owner", chatId: "chat-1");
        using var chat2 = Terminal.For("nb-owner", chatId: "chat-2");
        using var noChat = Terminal.For("nb-owner", chatId: null);
        using var bob = Terminal.For("nb-bob", chatId: "chat-1");
        const string path = "/home/user/mine.ipynb";
        var id = await OpenAsync(chat1, path, "secret = 'owner-secret-1'");
        await ExecuteAsync(chat1, id, 0);
        var (_, started) = await chat1.PostAsync("execute", new { command = "cat" });
        var process = started.GetProperty("id").GetString()!;

        foreach (var other in new[] { chat2, noChat, bob })
        {
            var (get, problem) = await other.GetAsync($"notebooks/{id}");
            Assert.Equal(404, get);
            Assert.Equal("Session not found", problem.GetProperty("detail").GetString());
            Assert.Equal(404, (await other.PostAsync($"notebooks/{id}/execute", new { cell_index = 0, source = "print(secret)" })).Status);
            Assert.Equal(404, (await other.SendAsync(HttpMethod.Delete, $"notebooks/{id}")).Status);
            Assert.Equal(404, (await other.GetAsync($"execute/{process}/status")).Status);
            Assert.Equal(404, (await other.PostAsync($"execute/{process}/input", new { input = "leak\n" })).Status);
            Assert.Equal(404, (await other.SendAsync(HttpMethod.Delete, $"execute/{process}?force=true")).Status);
            var (_, list) = await other.GetAsync("execute");
            Assert.DoesNotContain(list.EnumerateArray(), p => p.GetProperty("id").GetString() == process);
        }
        // Bob's "/home/user/mine.ipynb" is a path in his own home, where it does not exist.
        var (bobOpen, bobProblem) = await bob.PostAsync("notebooks", new { path });
        Assert.Equal(404, bobOpen);
        Assert.Equal($"Notebook not found: {path}", bobProblem.GetProperty("detail").GetString());

        // The owner's chat still has both, untouched.
        var (status, own) = await chat1.GetAsync($"execute/{process}/status");
        Assert.Equal(200, status);
        Assert.Equal("running", own.GetProperty("status").GetString());
        var check = await ExecuteAsync(chat1, id, 0, "print(secret)");
        Assert.Equal("owner-secret-1\n", check.GetProperty("outputs")[0].GetProperty("text").GetString());
        await chat1.SendAsync(HttpMethod.Delete, $"execute/{process}?force=true");
        await chat1.SendAsync(HttpMethod.Delete, $"notebooks/{id}");
    }

    [Fact]
    public async Task BadNotebooksAndPaths_AreRefused_NeverA500()
    {
        using var alice = Terminal.For("nb-bad", chatId: "chat-1");
        async Task<(int Status, string Detail)> OpenFileAsync(string path, string? content)
        {
            if (content is not null) Assert.Equal(200, (await alice.PostAsync("files/write", new { path, content })).Status);
            var (status, body) = await alice.PostAsync("notebooks", new { path });
            return (status, body.TryGetProperty("detail", out var d) ? d.GetString()! : body.ToString());
        }

        foreach (var (content, reason) in new[]
        {
            ("{not json", "not JSON"), ("[1, 2]", "not a JSON object"), ("{\"nbformat\": 3, \"cells\": []}", "nbformat 3"),
            ("{\"nbformat\": 4, \"cells\": {}}", "cells is not a list"), ("{\"nbformat\": 4, \"cells\": [{\"cell_type\": \"weird\"}]}", "cell 0"),
            ("{\"nbformat\": 4, \"cells\": [{\"cell_type\": \"code\", \"source\": 7}]}", "source"),
        })
        {
            var (status, detail) = await OpenFileAsync("/home/user/bad.ipynb", content);
            Assert.True(status == 400, $"{content}: {status} {detail}");
            Assert.StartsWith("Invalid notebook: ", detail, StringComparison.Ordinal);
            Assert.Contains(reason, detail, StringComparison.Ordinal);
        }
        Assert.Equal(404, (await OpenFileAsync("/home/user/missing.ipynb", null)).Status);
        Assert.Equal(404, (await OpenFileAsync("/home/user", null)).Status);
        // Outside the home, directly, by traversal or through a link: refused (403), whatever is there.
        Assert.Equal(403, (await OpenFileAsync("/etc/passwd", null)).Status);
        Assert.Equal(403, (await OpenFileAsync("/home/user/../../etc/hostname", null)).Status);
        await alice.RunAsync($"printf '%s' '{Notebook("print(1)")}' > /tmp/outside.ipynb; ln -sf /tmp/outside.ipynb /home/user/link.ipynb; " +
            "ln -sf /etc/hostname /home/user/host.ipynb");
        Assert.Equal(403, (await OpenFileAsync("/home/user/link.ipynb", null)).Status);
        Assert.Equal(403, (await OpenFileAsync("/home/user/host.ipynb", null)).Status);
        Assert.Equal(403, (await OpenFileAsync("/tmp/outside.ipynb", null)).Status);
        // A notebook over the file size cap is never read.
        await alice.RunAsync("truncate -s 40M /home/user/huge.ipynb");
        Assert.Equal(413, (await OpenFileAsync("/home/user/huge.ipynb", null)).Status);
        // Bad bodies (422 with FastAPI's detail list, as upstream's pydantic models answer) and indexes (400).
        Assert.Equal(422, (await alice.PostAsync("notebooks", new { })).Status);
        Assert.Equal(422, (await alice.PostAsync("notebooks", new { path = 5 })).Status);
        var id = await OpenAsync(alice, "/home/user/good.ipynb", "1");
        var (range, rangeProblem) = await alice.PostAsync($"notebooks/{id}/execute", new { cell_index = 5 });
        Assert.Equal(400, range);
        Assert.Equal("cell_index 5 out of range (0..0)", rangeProblem.GetProperty("detail").GetString());
        Assert.Equal(400, (await alice.PostAsync($"notebooks/{id}/execute", new { cell_index = -1 })).Status);
        Assert.Equal(422, (await alice.PostAsync($"notebooks/{id}/execute", new { cell_index = "zero" })).Status);
        Assert.Equal(422, (await alice.PostAsync($"notebooks/{id}/execute", new { source = "1" })).Status);
        using (var text = new StringContent("{\"cell_index\":0}", System.Text.Encoding.UTF8, "text/plain"))
        using (var response = await alice.Http.PostAsync($"notebooks/{id}/execute", text, TestContext.Current.CancellationToken))
            Assert.Equal(415, (int)response.StatusCode);
        // The file was broken between cells: the next cell says so (and the session stays usable once it is fixed).
        await alice.PostAsync("files/write", new { path = "/home/user/good.ipynb", content = "{broken" });
        Assert.Equal(400, (await alice.PostAsync($"notebooks/{id}/execute", new { cell_index = 0 })).Status);
        await alice.PostAsync("files/write", new { path = "/home/user/good.ipynb", content = Notebook("6 * 7") });
        Assert.Equal("42", (await ExecuteAsync(alice, id, 0)).GetProperty("outputs")[0].GetProperty("data").GetProperty("text/plain").GetString());
        await alice.SendAsync(HttpMethod.Delete, $"notebooks/{id}");
    }

    [Fact]
    public async Task CellRoundTrip_P50()
    {
        using var alice = Terminal.For("nb-bench", chatId: "chat-1");
        var id = await OpenAsync(alice, "/home/user/bench.ipynb", "n = 0", "n += 1\nn");
        await ExecuteAsync(alice, id, 0);
        var times = new List<double>();
        for (int i = 0; i < 30; i++)
        {
            var watch = Stopwatch.StartNew();
            var result = await ExecuteAsync(alice, id, 1);
            times.Add(watch.Elapsed.TotalMilliseconds);
            Assert.Equal((i + 1).ToString(System.Globalization.CultureInfo.InvariantCulture),
                result.GetProperty("outputs")[0].GetProperty("data").GetProperty("text/plain").GetString());
        }
        times.Sort();
        TestContext.Current.TestOutputHelper?.WriteLine($"notebook cell round trip on {TestBackend.Name}: p50 {times[times.Count / 2]:0.0} ms, " +
            $"p95 {times[(int)(times.Count * 0.95)]:0.0} ms (30 cells, file read and rewritten each time)");
        await alice.SendAsync(HttpMethod.Delete, $"notebooks/{id}");
    }
}
