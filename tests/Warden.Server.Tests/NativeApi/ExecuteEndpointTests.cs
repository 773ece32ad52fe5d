using System.Net;
using System.Text.Json;

namespace Warden.Server.Tests.NativeApi;

public sealed class ExecuteEndpointTests(SharedServer fixture) : IClassFixture<SharedServer>
{
    private HttpClient Client => fixture.Server.Client;

    [Fact]
    public async Task Execute_PythonHello_ReturnsSandboxExecutorShapedResult()
    {
        var (response, body) = await Json.PostAsync(Client, "/api/v1/execute", new { language = "python", code = "print('Hello from secure sandbox!')\nprint(2 + 2)" });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("success", body.GetProperty("status").GetString());
        Assert.Equal("Hello from secure sandbox!\n4\n", body.GetProperty("stdout").GetString());
        Assert.Equal("", body.GetProperty("stderr").GetString());
        Assert.Equal(0, body.GetProperty("exit_code").GetInt32());
        Assert.Equal(JsonValueKind.Null, body.GetProperty("error").ValueKind);
        Assert.Equal(JsonValueKind.Null, body.GetProperty("compile").ValueKind);
        Assert.Equal(32, body.GetProperty("execution_id").GetString()!.Length);
        foreach (var field in new[] { "execution_time_ms", "cpu_time_ms", "memory_used_mb", "signal", "stdout_truncated", "stderr_truncated" })
            Assert.True(body.TryGetProperty(field, out _), $"missing {field}");
    }

    [Fact]
    public async Task Execute_StdinAndArgs_ReachTheProgram()
    {
        var (_, body) = await Json.PostAsync(Client, "/api/v1/execute",
            new { language = "bash", code = "read line; echo \"$line|$1|$2\"", stdin = "from-stdin\n", args = new[] { "a b", "c" } });

        Assert.Equal("from-stdin|a b|c\n", body.GetProperty("stdout").GetString());
    }

    [Fact]
    public async Task Execute_CompiledLanguage_ReportsCompileStage()
    {
        var (_, ok) = await Json.PostAsync(Client, "/api/v1/execute", new { language = "c", code = "#include <stdio.h>\nint main(){puts(\"compiled\");return 3;}" });
        Assert.Equal("error", ok.GetProperty("status").GetString());
        Assert.Equal(3, ok.GetProperty("exit_code").GetInt32());
        Assert.Equal("compiled\n", ok.GetProperty("stdout").GetString());
        Assert.Equal("success", ok.GetProperty("compile").GetProperty("status").GetString());

        var (_, bad) = await Json.PostAsync(Client, "/api/v1/execute", new { language = "c", code = "int main( { return 0; }" });
        Assert.Equal("compile_error", bad.GetProperty("status").GetString());
        Assert.Contains("error", bad.GetProperty("compile").GetProperty("stderr").GetString());
    }

    [Fact]
    public async Task Execute_InvalidUtf8Output_IsValidJsonWithReplacementCharacters()
    {
        var (response, body) = await Json.PostAsync(Client, "/api/v1/execute",
            new { language = "python", code = "import sys\nsys.stdout.buffer.write(b'ok \\xff\\xfe end \\xe2\\x82\\xac\\n')" });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("ok \uFFFD\uFFFD end €\n", body.GetProperty("stdout").GetString());
    }

    [Fact]
    public async Task Execute_CollectFiles_ReturnsProducedFilesButNeverFollowsLinks()
    {
        var code = "import os\nopen('out.txt','w').write('result')\nos.makedirs('plots')\nopen('plots/a.png','wb').write(b'\\x89PNG')\nos.symlink('/etc/shadow','leak')\nos.symlink('/etc','etcdir')";
        var (_, body) = await Json.PostAsync(Client, "/api/v1/execute", new { language = "python", code, collect_files = true });

        Assert.Equal("success", body.GetProperty("status").GetString());
        var files = body.GetProperty("files").EnumerateArray().ToDictionary(f => f.GetProperty("name").GetString()!);
        Assert.Equal(["out.txt", "plots/a.png"], files.Keys.Order());
        Assert.Equal("result", System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(files["out.txt"].GetProperty("content_base64").GetString()!)));
        Assert.Equal("image/png", files["plots/a.png"].GetProperty("mime_type").GetString());
        Assert.False(body.GetProperty("files_truncated").GetBoolean());
    }

    [Fact]
    public async Task Execute_TimeoutAndMemoryStatuses_AreReportedOnEvidence()
    {
        var (_, slow) = await Json.PostAsync(Client, "/api/v1/execute", new { language = "python", code = "import time\ntime.sleep(10)", timeout = 0.5 });
        Assert.Equal("timeout", slow.GetProperty("status").GetString());
        Assert.InRange(slow.GetProperty("execution_time_ms").GetInt64(), 450, 5000);

        var (_, hog) = await Json.PostAsync(Client, "/api/v1/execute",
            new { language = "python", code = "x = []\nwhile True: x.append(bytearray(8 << 20))", memory_mb = 48 });
        Assert.Equal("memory_limit", hog.GetProperty("status").GetString());
    }
}
