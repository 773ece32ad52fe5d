using System.Text.Json;

namespace Warden.Server.Tests.OpenTerminal;

/// <summary>Two users at once: neither can read, write, list, grep, glob or kill anything of the other's.</summary>
public sealed class IsolationTests(SharedTerminalServer fixture) : IClassFixture<SharedTerminalServer>
{
    private TerminalTestServer Terminal => fixture.Server;

    private async Task<(TerminalClient Alice, TerminalClient Bob)> TwoUsersAsync(string test)
    {
        var alice = Terminal.For($"alice-{test}", chatId: "shared-chat");
        var bob = Terminal.For($"bob-{test}", chatId: "shared-chat");
        var (w, _) = await alice.PostAsync("files/write", new { path = "/home/user/secret.txt", content = "alice-secret-token\n" });
        Assert.Equal(200, w);
        await bob.RunAsync("echo bob-was-here > /home/user/bob.txt");
        return (alice, bob);
    }

    [Fact]
    public async Task Commands_CannotReachTheirAgentsProtocolOrMemory()
    {
        // The agent runs under the user's own uid; without PR_SET_DUMPABLE=0 a command could write forged replies into
        // /proc/<agent>/fd/1 (Warden reads them) or read its memory. The command finds the agent itself, so the test
        // first proves it found one.
        using var alice = Terminal.For("alice-agentfd", chatId: "agentfd");
        var result = await alice.RunAsync("""
            for p in /proc/[0-9]*; do
              args=$(tr '\0' '\n' < $p/cmdline 2>/dev/null) || continue
              # The interpreter running the agent script (this very shell's own command line names it too).
              case "${args%%$'\n'*}" in
                *python*) if printf '%s\n' "$args" | grep -qx '.*/warden_terminal[.]py'; then agent=${p#/proc/}; fi ;;
              esac
            done
            echo "agent:${agent:-none}"
            if [ -n "$agent" ]; then
              ls /proc/$agent/fd >/dev/null 2>&1 && echo "fd-list:open" || echo "fd-list:denied"
              (printf '{"id":1,"forged":true}\n' > /proc/$agent/fd/1) 2>/dev/null && echo "fd-write:open" || echo "fd-write:denied"
              head -c 16 /proc/$agent/environ >/dev/null 2>&1 && echo "environ:open" || echo "environ:denied"
            fi
            """);
        var output = TerminalClient.Stdout(result);
        Assert.DoesNotContain("agent:none", output, StringComparison.Ordinal);
        Assert.Contains("fd-list:denied", output, StringComparison.Ordinal);
        // gVisor's procfs hides a non-dumpable process's descriptor list but still lets its uid open the entries by
        // number and read environ (docs/open-terminal.md, Known limits): there the host's handling of agent output
        // (bounded lines and streams, replies only to pending ids) is what keeps forged lines to the user's own requests.
        if (TestBackend.Name != "gvisor")
        {
            Assert.Contains("fd-write:denied", output, StringComparison.Ordinal);
            Assert.Contains("environ:denied", output, StringComparison.Ordinal);
        }
        // The agent still serves this user afterwards.
        Assert.Contains("still-here", TerminalClient.Stdout(await alice.RunAsync("echo still-here")));
    }

    [Fact]
    public async Task GlobSearch_FromHomeOrRoot_NeverReturnsAnotherUsersFiles()
    {
        // open-terminal issue #46: glob_search crossed users.
        var (alice, bob) = await TwoUsersAsync("glob");
        using (alice)
        using (bob)
        {
            foreach (var path in new[] { "/home/user", "~", ".", ".." })
            {
                var (status, body) = await bob.GetAsync($"files/glob?pattern=*&path={Uri.EscapeDataString(path)}&max_results=500");
                Assert.Equal(200, status);
                Assert.DoesNotContain("secret", body.ToString(), StringComparison.Ordinal);
            }
            var (rootStatus, _) = await bob.GetAsync("files/glob?pattern=*secret*&path=/");
            Assert.Equal(403, rootStatus);
            var (_, own) = await alice.GetAsync("files/glob?pattern=*secret*&path=/home/user");
            Assert.Contains("secret.txt", own.ToString(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task ReadListGrep_SeeOnlyTheirOwnHome()
    {
        var (alice, bob) = await TwoUsersAsync("read");
        using (alice)
        using (bob)
        {
            // The same path names a different file for each user: their own home.
            var (status, read) = await bob.GetAsync("files/read?path=/home/user/secret.txt");
            Assert.Equal(404, status);
            var (_, list) = await bob.GetAsync("files/list?directory=/home/user");
            Assert.DoesNotContain("secret.txt", list.ToString(), StringComparison.Ordinal);
            Assert.Contains("bob.txt", list.ToString(), StringComparison.Ordinal);
            var (_, grep) = await bob.GetAsync("files/grep?query=alice-secret&path=/home/user");
            Assert.Empty(grep.GetProperty("matches").EnumerateArray());
            var (_, aliceRead) = await alice.GetAsync("files/read?path=/home/user/secret.txt");
            Assert.Contains("alice-secret-token", aliceRead.GetProperty("content").GetString());
            _ = read;
        }
    }

    [Fact]
    public async Task Commands_CannotReachAnotherUsersHomeOrState()
    {
        var (alice, bob) = await TwoUsersAsync("cmd");
        using (alice)
        using (bob)
        {
            // On gVisor every read crosses the gofer, and grepping the host's whole /usr outlasts the request: there /usr is
            // left out of the search and shown instead to be a read-only mount (bob cannot have put alice's token there).
            var usr = TestBackend.Name == "gvisor" ? " --exclude-dir=usr" : "";
            // Docker's /usr is no mount of its own but part of the image's root, which is mounted read-only as a whole.
            var readOnlyUsr = TestBackend.Name == "docker" ? "' / / ro'" : "' /usr ro'";
            var result = await bob.RunAsync(
                $"grep -rs alice-secret-token / --exclude-dir=proc --exclude-dir=sys{usr} 2>/dev/null | head -1; ls /var/lib 2>&1 | grep -c warden; " +
                $"cd {Terminal.StateDirectory} 2>&1; grep -c {readOnlyUsr} /proc/self/mountinfo; echo done", wait: 60);
            var output = TerminalClient.Output(result);
            Assert.Contains("\n1\n", output, StringComparison.Ordinal);
            Assert.DoesNotContain("alice-secret-token", output, StringComparison.Ordinal);
            Assert.Contains("No such file or directory", output, StringComparison.Ordinal);
            Assert.Contains("done", output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Write_ByOneUser_NeverChangesTheOthersFile()
    {
        var (alice, bob) = await TwoUsersAsync("write");
        using (alice)
        using (bob)
        {
            var (w, _) = await bob.PostAsync("files/write", new { path = "/home/user/secret.txt", content = "overwritten by bob" });
            Assert.Equal(200, w);
            var (_, aliceRead) = await alice.GetAsync("files/read?path=/home/user/secret.txt");
            Assert.Equal("alice-secret-token\n", aliceRead.GetProperty("content").GetString());
        }
    }

    [Fact]
    public async Task ProcessIds_OfAnotherUser_CannotBeSeenSignalledOrFed()
    {
        var (alice, bob) = await TwoUsersAsync("kill");
        using (alice)
        using (bob)
        {
            var (_, started) = await alice.PostAsync("execute", new { command = "sleep 60" });
            var id = started.GetProperty("id").GetString()!;
            Assert.Equal(404, (await bob.GetAsync($"execute/{id}/status")).Status);
            Assert.Equal(404, (await bob.SendAsync(HttpMethod.Delete, $"execute/{id}?force=true")).Status);
            Assert.Equal(404, (await bob.PostAsync($"execute/{id}/input", new { input = "x\n" })).Status);
            var (_, bobList) = await bob.GetAsync("execute");
            Assert.DoesNotContain(id, bobList.ToString(), StringComparison.Ordinal);
            // Bob's own shell cannot see or signal Alice's processes either: they live in another pid namespace.
            var ps = await bob.RunAsync("ps -eo pid,comm | grep -c 'sleep' ; pkill -9 sleep; echo ok");
            Assert.StartsWith("0", TerminalClient.Stdout(ps).Trim(), StringComparison.Ordinal);
            var (_, status) = await alice.GetAsync($"execute/{id}/status");
            Assert.Equal("running", status.GetProperty("status").GetString());
            await alice.SendAsync(HttpMethod.Delete, $"execute/{id}?force=true");
        }
    }

    [Fact]
    public async Task Homes_AreOwnedByDistinctPersistentUids_Mode0700()
    {
        if (Environment.UserName != "root") Assert.Skip("Per-user uids need root.");
        // Two users of this test's own, so it holds whatever order the tests run in.
        var (alice, bob) = await TwoUsersAsync("homes");
        alice.Dispose();
        bob.Dispose();
        var users = Path.Combine(Terminal.StateDirectory, "users");
        var homes = Directory.GetDirectories(users).Select(d => Path.Combine(d, "home")).Where(Directory.Exists).ToList();
        Assert.True(homes.Count >= 2, $"expected at least the two homes this test created, found {homes.Count}");
        var owners = homes.Select(h => new UnixFileInfo(h)).ToList();
        Assert.All(owners, o => Assert.Equal("700", o.Mode));
        Assert.Equal(owners.Count, owners.Select(o => o.Uid).Distinct().Count());
        Assert.All(owners, o => Assert.True(o.Uid >= 400000));
    }

    private sealed record UnixFileInfo
    {
        public UnixFileInfo(string path)
        {
            var psi = new System.Diagnostics.ProcessStartInfo("stat", ["-c", "%u %a", path]) { RedirectStandardOutput = true };
            using var p = System.Diagnostics.Process.Start(psi)!;
            var parts = p.StandardOutput.ReadToEnd().Trim().Split(' ');
            p.WaitForExit();
            Uid = int.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture);
            Mode = parts[1];
        }

        public int Uid { get; }
        public string Mode { get; }
    }

    internal static string Str(JsonElement e) => e.ToString();
}
