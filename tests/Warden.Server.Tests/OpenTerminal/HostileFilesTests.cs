using System.Diagnostics;
using System.Text.Json;

namespace Warden.Server.Tests.OpenTerminal;

/// <summary>
/// The file endpoints against what a user's own commands can leave in their home: a FIFO (an open of it used to block
/// the request forever), a socket, a 100 GB sparse file, 10,000 levels of directories (Python 3.11's os.walk and
/// rmtree recurse and died there, leaving the request unanswered), hundreds of files, a name that is not UTF-8 (its raw
/// bytes made the agent's answer unreadable). Every request answers within a bound with a status that says why, never a
/// 500, and the terminal keeps working.
/// </summary>
public sealed class HostileFilesTests(HostileFilesTests.RoomyTerminalServer fixture) : IClassFixture<HostileFilesTests.RoomyTerminalServer>
{
    /// <summary>The planted tree is 10,000 directories and 900 files: more than the default file quota (the home is a
    /// filesystem with that many inodes), so these users get room for it.</summary>
    public sealed class RoomyTerminalServer : IAsyncLifetime
    {
        public TerminalTestServer Server { get; private set; } = null!;

        public async ValueTask InitializeAsync() =>
            Server = await TerminalTestServer.StartAsync(new() { ["Warden:Terminal:MaxFilesPerUser"] = "40000" });

        public async ValueTask DisposeAsync() => await Server.DisposeAsync();
    }

    private TerminalTestServer Terminal => fixture.Server;

    private const string Plant = """
        python3 - <<'PY'
        import os, resource, socket
        os.mkfifo('fifo')
        socket.socket(socket.AF_UNIX).bind('sock')
        size = 100 << 30
        soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        if soft != resource.RLIM_INFINITY and soft < size:
            size = soft
        with open('big', 'wb') as f:
            f.truncate(size)
        open(b'bad-\xff\xfe.txt', 'w').write('raw name')
        os.mkdir('many')
        for i in range(900):
            open('many/f%03d.txt' % i, 'w').write('needle %d\n' % i)
        os.mkdir('deep')
        os.chdir('deep')
        for _ in range(10000):
            os.mkdir('d')
            os.chdir('d')
        open('bottom.txt', 'w').write('needle at the bottom\n')
        print('planted')
        PY
        """;

    private async Task<TerminalClient> PlantedUserAsync()
    {
        var user = Terminal.For("hostile-" + Guid.NewGuid().ToString("N")[..8], chatId: null);
        var planted = await user.RunAsync(Plant, wait: 60);
        Assert.Contains("planted", TerminalClient.Stdout(planted), StringComparison.Ordinal);
        return user;
    }

    /// <summary>One request, answered within 20 s with one of <paramref name="expected"/>; an error is problem+json.</summary>
    private static async Task<JsonElement> AnswersAsync(TerminalClient user, HttpMethod method, string path, object? body, params int[] expected)
    {
        var watch = Stopwatch.StartNew();
        var (status, json) = await user.SendAsync(method, path, body);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"{method} {path} took {watch.Elapsed}");
        Assert.True(expected.Contains(status), $"{method} {path} returned {status}: {json}");
        if (status >= 400) Assert.True(json.TryGetProperty("title", out _) && json.TryGetProperty("status", out _), $"not problem+json: {json}");
        return json;
    }

    [Fact]
    public async Task ReadViewWriteUpload_OnSpecialAndHugeFiles_AnswerAtOnce()
    {
        using var user = await PlantedUserAsync();

        foreach (var name in new[] { "fifo", "sock" })
        {
            await AnswersAsync(user, HttpMethod.Get, $"files/read?path={name}", null, 404);
            await AnswersAsync(user, HttpMethod.Get, $"files/view?path={name}", null, 404);
            await AnswersAsync(user, HttpMethod.Post, "files/replace", new { path = name, replacements = new[] { new { target = "a", replacement = "b" } } }, 404);
            await AnswersAsync(user, HttpMethod.Post, "files/write", new { path = name, content = "x" }, 400);
            using var form = new MultipartFormDataContent();
            form.Add(new ByteArrayContent("upload"u8.ToArray()), "file", name);
            var watch = Stopwatch.StartNew();
            using var upload = await user.Http.PostAsync("files/upload?directory=.", form, TestContext.Current.CancellationToken)
                .WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"upload onto {name} took {watch.Elapsed}");
            Assert.Equal(400, (int)upload.StatusCode);
        }
        await AnswersAsync(user, HttpMethod.Get, "files/read?path=big", null, 413);
        await AnswersAsync(user, HttpMethod.Get, "files/view?path=big", null, 413);
        await AnswersAsync(user, HttpMethod.Get, "files/display?path=fifo", null, 200);

        // test(1), not `ls -l`: gVisor's statx here refuses AT_NO_AUTOMOUNT, which coreutils' ls and stat always pass.
        var alive = await user.RunAsync("echo alive; [ -p fifo ] && echo p");
        Assert.Equal("alive\np\n", TerminalClient.Stdout(alive));
    }

    [Fact]
    public async Task ListGrepGlob_OverDeepManyAndBadlyNamedEntries_AnswerBounded()
    {
        using var user = await PlantedUserAsync();

        var list = await AnswersAsync(user, HttpMethod.Get, "files/list?directory=.", null, 200);
        var names = list.GetProperty("entries").EnumerateArray().Select(e => e.GetProperty("name").GetString()).ToList();
        Assert.Contains("fifo", names);
        Assert.Contains("bad-\uFFFD\uFFFD.txt", names);

        var grep = await AnswersAsync(user, HttpMethod.Get, "files/grep?query=needle&path=.&max_results=500", null, 200);
        var files = grep.GetProperty("matches").EnumerateArray().Select(m => m.GetProperty("file").GetString()!).ToList();
        Assert.Equal(500, files.Count);
        Assert.DoesNotContain(files, f => f.EndsWith("bottom.txt", StringComparison.Ordinal)); // below the walk's depth bound

        var glob = await AnswersAsync(user, HttpMethod.Get, "files/glob?pattern=*.txt&path=.&max_results=500", null, 200);
        Assert.Equal(500, glob.GetProperty("matches").GetArrayLength());
        await AnswersAsync(user, HttpMethod.Get, "files/glob?pattern=bottom.txt&path=deep", null, 200);
    }

    [Fact]
    public async Task Delete_TenThousandLevels_RemovesItAll()
    {
        using var user = await PlantedUserAsync();

        // On gVisor each file operation is a trip through the Sentry and the gofer: the 10,000 levels take 30-60+ s here
        // (bwrap: under 2 s), past the request timeout. There a 2,500-level tree is removed within the same bound: still
        // far past Python's recursion limit, so a remover that recursed per level fails it just the same.
        var tree = "deep";
        if (TestBackend.Name == "gvisor")
        {
            tree = "deep2500";
            var made = await user.RunAsync("python3 -c \"import os\nos.mkdir('deep2500'); os.chdir('deep2500')\nfor _ in range(2500): os.mkdir('d'); os.chdir('d')\nprint('made')\"", wait: 60);
            Assert.Contains("made", TerminalClient.Stdout(made), StringComparison.Ordinal);
        }
        await AnswersAsync(user, HttpMethod.Delete, $"files/delete?path={tree}", null, 200);
        await AnswersAsync(user, HttpMethod.Delete, "files/delete?path=fifo", null, 200);

        // test(1) and globs, not ls: gVisor's statx here refuses the AT_NO_AUTOMOUNT flag ls always passes.
        var left = await user.RunAsync($"[ -e {tree} ] || echo gone; [ -e fifo ] || [ -p fifo ] || echo gone; printf '%s\\n' .* * | grep -c warden-removing");
        Assert.Equal("gone\ngone\n0\n", TerminalClient.Stdout(left));
    }

    [Fact]
    public async Task LinkToAHostRootOnlyFile_RefusedOnEveryFileEndpoint()
    {
        using var secret = new Warden.Server.Tests.OpenTerminal.HostRootOnlyFile();
        using var user = Terminal.For("hostile-" + Guid.NewGuid().ToString("N")[..8], chatId: null);
        await user.RunAsync($"ln -s {secret.Path} host-link; ln -s {Path.GetDirectoryName(secret.Path)} host-dir; echo ok");

        foreach (var url in new[] { "files/read?path=host-link", "files/view?path=host-link", "files/list?directory=host-dir",
                     "files/grep?query=SECRET&path=host-dir", "files/glob?pattern=*&path=host-dir" })
        {
            var body = await AnswersAsync(user, HttpMethod.Get, url, null, 403, 404);
            Assert.DoesNotContain(secret.Value, body.ToString(), StringComparison.Ordinal);
        }
        await AnswersAsync(user, HttpMethod.Post, "files/write", new { path = "host-link", content = "pwned" }, 403);
        Assert.Equal(secret.Value, File.ReadAllText(secret.Path));
    }
}

/// <summary>A root-only file on the host, outside every home: its path is what a user's link names.</summary>
internal sealed class HostRootOnlyFile : IDisposable
{
    private readonly string _directory = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "warden-host-secret-" + Guid.NewGuid().ToString("N")[..12]);

    public HostRootOnlyFile()
    {
        Directory.CreateDirectory(_directory);
        File.WriteAllText(Path, Value);
        File.SetUnixFileMode(Path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    public string Path => System.IO.Path.Combine(_directory, "secret");

    public string Value { get; } = "HOST-SECRET-" + Guid.NewGuid().ToString("N");

    public void Dispose()
    {
        try { Directory.Delete(_directory, recursive: true); } catch (IOException) { }
    }
}
