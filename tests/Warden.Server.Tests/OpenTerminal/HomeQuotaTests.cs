using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Warden.Server.Tests.OpenTerminal;

/// <summary>
/// Quotas the kernel enforces: a user's home is a filesystem of the quota's size and file count (an ext4 image,
/// loop-mounted), so a command writing past it fails with ENOSPC while it runs; safe-code-execution's quota features still work on top.
/// </summary>
public sealed partial class HomeQuotaTests
{
    private const long Megabyte = 1 << 20;

    /// <summary>Writes 1 MB at a time (unbuffered) until it has written argv[1] MB or a write fails; prints which.</summary>
    private const string Writer = """
        import sys, time
        written = 0
        try:
            with open('big', 'wb', buffering=0) as f:
                while written < int(sys.argv[1]) << 20:
                    written += f.write(b'x' * (1 << 20))
                    time.sleep(0.01)
            print('finished written', written)
        except OSError as e:
            print('errno', e.errno, 'written', written)
        """;

    [Fact]
    public async Task RunningWriter_PastTheQuota_FailsWithEnospcAtOnce_AndTheHostNeverSeesMoreThanTheQuota()
    {
        const long quota = 16 * Megabyte;
        await using var terminal = await TerminalTestServer.StartAsync(new() { ["Warden:Terminal:MaxMegabytesPerUser"] = "16" });
        using var user = terminal.For("quota-writer", chatId: null);
        Assert.Equal(200, (await user.PostAsync("files/write", new { path = "writer.py", content = Writer })).Status);
        var home = terminal.HostHome("quota-writer");
        Assert.Equal(HomeFilesystems.Ext4Magic, HomeFilesystems.Statfs(home).Type);
        Assert.InRange(HomeFilesystems.Statfs(home).SizeBytes, 1UL, (ulong)quota);

        // In the background, while the host watches the home's filesystem from outside.
        var (status, started) = await user.PostAsync("execute", new { command = "python3 writer.py 64" });
        Assert.Equal(200, status);
        var id = started.GetProperty("id").GetString();
        ulong peak = 0;
        JsonElement result;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        do
        {
            peak = Math.Max(peak, HomeFilesystems.Statfs(home).UsedBytes);
            (_, result) = await user.GetAsync($"execute/{id}/status");
            await Task.Delay(10, TestContext.Current.CancellationToken);
        }
        while (result.GetProperty("status").GetString() == "running" && DateTime.UtcNow < deadline);

        var output = TerminalClient.Output(result);
        // It ended by itself, on the failed write: nothing had to kill it afterwards.
        Assert.Equal("done", result.GetProperty("status").GetString());
        var match = WriterResult().Match(output);
        Assert.True(match.Success, output);
        Assert.Equal("28", match.Groups[1].Value); // ENOSPC
        Assert.InRange(long.Parse(match.Groups[2].Value, CultureInfo.InvariantCulture), quota / 2, quota); // it filled the home, and no more
        Assert.InRange(peak, 1UL, (ulong)quota);
        Assert.Contains("[warden] Your home is full", output);

        // Later writers are stopped by the kernel too; an API write is a 507.
        var later = await user.RunAsync("head -c 1048576 /dev/zero > more.bin; echo exit=$?");
        Assert.Contains("No space left on device", TerminalClient.Output(later));
        Assert.DoesNotContain("exit=0", TerminalClient.Output(later));
        var (refused, problem) = await user.PostAsync("files/write", new { path = "note.txt", content = new string('x', 1 << 20) });
        Assert.Equal(507, refused);
        Assert.Contains("Quota exceeded", problem.GetProperty("detail").GetString());
        Assert.InRange(HomeFilesystems.Statfs(home).UsedBytes, 1UL, (ulong)quota);

        // Deleting makes room again.
        await user.RunAsync("rm -f big more.bin");
        Assert.Equal(200, (await user.PostAsync("files/write", new { path = "note.txt", content = new string('x', 1 << 20) })).Status);
    }

    [Fact]
    public async Task CreatingMoreFilesThanTheFileQuota_FailsWithEnospc()
    {
        const int quota = 100;
        await using var terminal = await TerminalTestServer.StartAsync(new()
        {
            ["Warden:Terminal:MaxFilesPerUser"] = quota.ToString(CultureInfo.InvariantCulture), ["Warden:Terminal:MaxMegabytesPerUser"] = "64",
        });
        using var user = terminal.For("quota-files", chatId: null);
        const string creator = """
            n = 0
            try:
                while n < 1000:
                    open('f%d' % n, 'w').close()
                    n += 1
                print('created', n)
            except OSError as e:
                print('errno', e.errno, 'created', n)
            """;
        Assert.Equal(200, (await user.PostAsync("files/write", new { path = "creator.py", content = creator })).Status);

        var result = await user.RunAsync("python3 creator.py");

        var match = CreatorResult().Match(TerminalClient.Output(result));
        Assert.True(match.Success, TerminalClient.Output(result));
        Assert.Equal("28", match.Groups[1].Value);
        int entries = int.Parse(match.Groups[2].Value, CultureInfo.InvariantCulture) + 1; // and creator.py
        // Never more than the quota; short of it by at most one inode-table block (16 inodes) of rounding.
        Assert.InRange(entries, quota - 16, quota);
        var usage = HomeFilesystems.Statfs(terminal.HostHome("quota-files"));
        Assert.InRange(usage.UsedInodes, 1UL, (ulong)quota + 10); // ext4's 10 reserved inodes (the root directory among them)
        Assert.Equal(507, (await user.PostAsync("files/write", new { path = "one-more.txt", content = "x" })).Status);
    }

    [Fact]
    public async Task TwoUsersHomes_AreSeparateFilesystems()
    {
        await using var terminal = await TerminalTestServer.StartAsync(new() { ["Warden:Terminal:MaxMegabytesPerUser"] = "16" });
        using var alice = terminal.For("fs-alice", chatId: null);
        using var bob = terminal.For("fs-bob", chatId: null);

        var full = await alice.RunAsync("head -c 32M /dev/zero > big; echo exit=$?");
        var fine = await bob.RunAsync("head -c 8M /dev/zero > big && echo ok");

        Assert.Contains("No space left on device", TerminalClient.Output(full));
        Assert.Equal("ok\n", TerminalClient.Stdout(fine));
        var mounts = File.ReadLines("/proc/self/mountinfo").Select(l => l.Split(' ')).ToList();
        var a = mounts.Single(f => f[4] == terminal.HostHome("fs-alice"));
        var b = mounts.Single(f => f[4] == terminal.HostHome("fs-bob"));
        Assert.NotEqual(a[2], b[2]); // device numbers: two filesystems
        Assert.StartsWith("7:", a[2], StringComparison.Ordinal); // loop devices
        Assert.InRange(HomeFilesystems.Statfs(terminal.HostHome("fs-bob")).UsedBytes, 8UL * Megabyte, 9UL * Megabyte);
        // Alice's home is full (her quota less ext4's own metadata: 256 bytes of inode table per allowed file), Bob's is not.
        Assert.InRange(HomeFilesystems.Statfs(terminal.HostHome("fs-alice")).UsedBytes, 12UL * Megabyte, 16UL * Megabyte);
    }

    [Fact]
    public async Task Restarts_KeepFiles_GrowTheHome_RefuseAShrinkThatDoesNotFit_AndLeaveNoMountOrLoopDevice()
    {
        var state = TerminalTestServer.NewStateDirectory();
        var uidBase = TerminalTestServer.NewUidBase();
        Task<TerminalTestServer> Start(int megabytes) => TerminalTestServer.StartAsync(
            new() { ["Warden:Terminal:MaxMegabytesPerUser"] = megabytes.ToString(CultureInfo.InvariantCulture) }, stateDirectory: state, uidBase: uidBase);
        try
        {
            string hash;
            await using (var first = await Start(16))
            {
                using var user = first.For("restarted", chatId: null);
                Assert.Equal(200, (await user.PostAsync("files/write", new { path = "keep.txt", content = "keep" })).Status);
                hash = TerminalClient.Stdout(await user.RunAsync("head -c 10M /dev/urandom > ten.bin && sha256sum ten.bin"));
                Assert.Contains("ten.bin", hash);
            }
            await AssertNothingLeftAsync(state);

            await using (var grown = await Start(48))
            {
                using var user = grown.For("restarted", chatId: null);
                Assert.Equal("keep", (await user.GetAsync("files/read?path=keep.txt")).Body.GetProperty("content").GetString());
                Assert.Equal(hash, TerminalClient.Stdout(await user.RunAsync("sha256sum ten.bin")));
                Assert.InRange(HomeFilesystems.Statfs(grown.HostHome("restarted")).SizeBytes, 40UL * Megabyte, 48UL * Megabyte);
                Assert.Equal("ok\n", TerminalClient.Stdout(await user.RunAsync("head -c 30M /dev/zero > thirty.bin && echo ok")));
            }
            await AssertNothingLeftAsync(state);

            // 40 MB of files do not fit in 16 MB: the home keeps its size and every file.
            await using (var refused = await Start(16))
            {
                using var user = refused.For("restarted", chatId: null);
                Assert.Equal(hash, TerminalClient.Stdout(await user.RunAsync("sha256sum ten.bin")));
                Assert.InRange(HomeFilesystems.Statfs(refused.HostHome("restarted")).SizeBytes, 40UL * Megabyte, 48UL * Megabyte);
                await user.RunAsync("rm thirty.bin");
            }
            await AssertNothingLeftAsync(state);

            // Now they fit: the home shrinks.
            await using (var shrunk = await Start(16))
            {
                using var user = shrunk.For("restarted", chatId: null);
                Assert.Equal(hash, TerminalClient.Stdout(await user.RunAsync("sha256sum ten.bin")));
                Assert.InRange(HomeFilesystems.Statfs(shrunk.HostHome("restarted")).SizeBytes, 1UL, 16UL * Megabyte);
                Assert.Equal("keep", (await user.GetAsync("files/read?path=keep.txt")).Body.GetProperty("content").GetString());
            }
            await AssertNothingLeftAsync(state);
        }
        finally
        {
            if (HomeFilesystems.MountsUnder(state).Count == 0) Directory.Delete(state, recursive: true);
        }
    }

    [Fact]
    public async Task EvictMode_BeforeACommand_EvictsTheOldestFilesToMakeRoom()
    {
        await using var terminal = await TerminalTestServer.StartAsync(new()
        {
            ["Warden:Terminal:MaxMegabytesPerUser"] = "16", ["Warden:Terminal:QuotaMode"] = "Evict",
        });
        using var user = terminal.For("quota-evict-before", chatId: null);
        // 14 MB in files of 1 MB, old1 the oldest; less than the 4 MB Evict mode keeps free (a quarter of the quota) is left.
        await user.RunAsync("for i in $(seq 1 14); do head -c 1000000 /dev/zero > old$i; touch -d \"$((100 - i)) minutes ago\" old$i; done");

        var next = await user.RunAsync("df -k . | tail -1");

        var output = TerminalClient.Output(next);
        Assert.Contains("[warden] Made room for this command: evicted the", output);
        Assert.Matches(@"/old1(,|\s)", output);
        var names = (await user.GetAsync("files/list?directory=.")).Body.GetProperty("entries").EnumerateArray().Select(e => e.GetProperty("name").GetString()).ToList();
        Assert.DoesNotContain("old1", names);
        Assert.Contains("old14", names);
        var usage = HomeFilesystems.Statfs(terminal.HostHome("quota-evict-before"));
        Assert.True(usage.SizeBytes - usage.UsedBytes >= 3 * Megabyte, $"only {(usage.SizeBytes - usage.UsedBytes) >> 20} MB free");
    }

    [Fact]
    public async Task TmpfsHomes_AreBoundedToo_SayTheyAreEphemeral_AndAreGoneAfterTheSandbox()
    {
        await using var terminal = await TerminalTestServer.StartAsync(new()
        {
            ["Warden:Terminal:HomeStorage"] = "tmpfs", ["Warden:Terminal:MaxMegabytesPerUser"] = "16", ["Warden:Terminal:MaxFilesPerUser"] = "50",
            ["Warden:Terminal:IdleTimeoutSeconds"] = "2",
        });
        using var user = terminal.For("tmpfs-user", chatId: null);
        var (_, health) = await user.GetAsync("health");
        Assert.Equal("tmpfs", health.GetProperty("home_storage").GetString());
        Assert.Contains("gone when", health.GetProperty("home_storage_warning").GetString());

        var bytes = await user.RunAsync("head -c 32M /dev/zero > big; echo exit=$?; rm big; " +
            "for i in $(seq 1 100); do : > f$i || break; done; ls | wc -l");

        var output = TerminalClient.Output(bytes);
        Assert.Contains("No space left on device", output);
        Assert.EndsWith("\n50\n", TerminalClient.Stdout(bytes), StringComparison.Ordinal); // nr_inodes: exactly the file quota
        var usage = HomeFilesystems.Statfs(terminal.HostHome("tmpfs-user"));
        Assert.Equal(HomeFilesystems.TmpfsMagic, usage.Type);
        Assert.Equal(16UL << 20, usage.SizeBytes);

        // Idle: the sandbox stops, the tmpfs goes, and with it the files (as the warning says).
        var manager = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<Warden.Core.Terminals.TerminalManager>(terminal.Server.Services);
        // The reaper forgets the terminal first, then stops its sandbox and unmounts: wait for the unmount itself.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while ((manager.RunningCount > 0 || HomeFilesystems.MountsUnder(terminal.StateDirectory + "/users").Count > 0) && DateTime.UtcNow < deadline)
            await Task.Delay(250, TestContext.Current.CancellationToken);
        Assert.Empty(HomeFilesystems.MountsUnder(terminal.StateDirectory + "/users"));
        Assert.Equal("0\n", TerminalClient.Stdout(await user.RunAsync("ls | wc -l")));
    }

    internal static async Task AssertNothingLeftAsync(string state)
    {
        Assert.Empty(HomeFilesystems.MountsUnder(state));
        Assert.Empty(await HomeFilesystems.LoopDevicesAfterUnbindAsync(state));
    }

    [GeneratedRegex(@"errno (\d+) written (\d+)")]
    private static partial Regex WriterResult();

    [GeneratedRegex(@"errno (\d+) created (\d+)")]
    private static partial Regex CreatorResult();
}
