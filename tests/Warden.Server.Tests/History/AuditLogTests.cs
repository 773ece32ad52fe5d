using System.Text.Json;
using Warden.Server.History;

namespace Warden.Server.Tests.History;

/// <summary>The audit log rotates by size, keeps N files, loses no line within them, and every file is 0600.</summary>
public sealed class AuditLogTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("warden-audit-").FullName;

    private static ExecutionRecord Record(int n) => new()
    {
        Id = $"exec-{n:D4}", StartedAt = DateTimeOffset.UnixEpoch, FinishedAt = DateTimeOffset.UnixEpoch.AddSeconds(n), Transport = "execute",
        Language = "python", Backend = "bwrap", Status = "success", HttpStatus = 200, CodeSha256 = new string('0', 64), Code = "print(1)",
    };

    [Fact]
    public async Task Append_PastTheSizeLimit_RotatesKeepsNFilesAndLosesNoLineWithinThem()
    {
        var path = Path.Combine(_directory, "audit.log");
        const long max = 4096;
        const int keep = 3;
        using (var log = new AuditLog(path, includeCode: false, maxFileBytes: max, keepFiles: keep))
        {
            for (int n = 0; n < 200; n++) await log.AppendAsync([Record(n)], TestContext.Current.CancellationToken);
        }

        var files = Directory.GetFiles(_directory).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(["audit.log", "audit.log.1", "audit.log.2", "audit.log.3"], files);
        Assert.All(files, f => Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_directory, f!))));
        Assert.All(files, f => Assert.InRange(new FileInfo(Path.Combine(_directory, f!)).Length, 1, max));

        // Oldest first: .3, .2, .1, then the current file; together the newest records, consecutive, each line whole.
        var ids = new[] { "audit.log.3", "audit.log.2", "audit.log.1", "audit.log" }
            .SelectMany(f => File.ReadAllLines(Path.Combine(_directory, f)))
            .Select(line => JsonDocument.Parse(line).RootElement.GetProperty("execution").GetProperty("id").GetString())
            .ToList();
        Assert.Equal("exec-0199", ids[^1]);
        int first = int.Parse(ids[0]![5..], System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(first > 0, "the oldest records must have been rotated away");
        Assert.Equal(Enumerable.Range(first, 200 - first).Select(n => $"exec-{n:D4}"), ids);
    }

    [Fact]
    public async Task Append_NoLimit_NeverRotates_AndAnExistingReadableFileIsMadeOwnerOnly()
    {
        var path = Path.Combine(_directory, "audit.log");
        await File.WriteAllTextAsync(path, "", TestContext.Current.CancellationToken);
        File.SetUnixFileMode(path, (UnixFileMode)Convert.ToInt32("644", 8));
        using (var log = new AuditLog(path, includeCode: false, maxFileBytes: 0))
        {
            for (int n = 0; n < 50; n++) await log.AppendAsync([Record(n)], TestContext.Current.CancellationToken);
        }
        Assert.Equal(["audit.log"], Directory.GetFiles(_directory).Select(Path.GetFileName));
        Assert.Equal(50, File.ReadAllLines(path).Length);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
    }

    [Fact]
    public async Task Server_AuditLogSettings_RotateTheRealLog()
    {
        await using var server = await WardenTestServer.StartAsync(new() { ["Warden:Audit:MaxFileBytes"] = "1500", ["Warden:Audit:KeepFiles"] = "2" });
        for (int n = 0; n < 6; n++)
        {
            var (_, result) = await Json.PostAsync(server.Client, "/api/v1/execute", new { language = "bash", code = $"echo {n}" });
            Assert.Equal("success", result.GetProperty("status").GetString());
        }
        Assert.True(File.Exists(server.AuditLogPath + ".1"), "no rotated file after six executions of ~700 bytes each with a 1500-byte limit");
        Assert.False(File.Exists(server.AuditLogPath + ".3"));
        Assert.All(Directory.GetFiles(server.DataDirectory, "audit.log*"),
            f => Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(f)));
    }

    public void Dispose()
    {
        try { Directory.Delete(_directory, recursive: true); } catch (IOException) { }
    }
}
