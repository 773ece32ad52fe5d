using System.Diagnostics;
using System.Globalization;
using Warden.Core.Workspaces;

namespace Warden.Server.Tests.OpenTerminal;

/// <summary>
/// A home an older version kept as a plain directory moves into the user's image on first use. Its content is the
/// user's, so hostile: links must be copied as links (never followed, so no host file is read), FIFOs must neither be
/// copied nor block the copy, and what does not fit must be kept aside, not lost.
/// </summary>
public sealed class HomeMigrationTests
{
    /// <summary>Builds an old-style home (owned by the user's uid) with entries a user could have left there.</summary>
    private const string Hostile = """
        import os, sys
        home, uid = sys.argv[1], int(sys.argv[2])
        os.makedirs(home + '/sub/deep')
        open(home + '/notes.txt', 'w').write('hello')
        open(home + '/sub/deep/file.txt', 'w').write('deep')
        os.symlink('/etc/shadow', home + '/link-to-shadow')
        os.symlink('sub', home + '/link-to-sub')
        os.symlink('loop', home + '/loop')
        os.mkfifo(home + '/fifo')
        open(home + '/hard1', 'w').write('same')
        os.link(home + '/hard1', home + '/hard2')
        open(os.fsencode(home) + b'/bad\xffname', 'w').write('x')
        open(home + '/setuid.sh', 'w').write('#!/bin/sh\n')
        os.chmod(home + '/setuid.sh', 0o4755)
        with open(home + '/sparse.bin', 'wb') as f:
            f.truncate(1 << 30)
            f.seek((1 << 30) - 1)
            f.write(b'!')
        for top, dirs, files in os.walk(home):
            for name in dirs + files:
                os.lchown(os.path.join(top, name), uid, uid)
        os.lchown(home, uid, uid)
        os.chmod(home, 0o700)
        """;

    [Fact]
    public async Task PlainHome_MovesIntoTheImage_LinksCopiedAsLinks_FifoLeftOut_OldTreeRemoved()
    {
        var (state, uidBase, home) = OldHome("migrant", Hostile);
        try
        {
            await using (var terminal = await TerminalTestServer.StartAsync(new() { ["Warden:Terminal:MaxMegabytesPerUser"] = "64" },
                stateDirectory: state, uidBase: uidBase))
            {
                using var user = terminal.For("migrant", chatId: null);
                // File facts come from stat(2) (test(1), python's os.stat), not coreutils' ls/stat: gVisor's statx here refuses
                // the AT_NO_AUTOMOUNT flag those always pass.
                const string st = "st() { python3 -c 'import os, sys; s = os.stat(sys.argv[1]); " +
                    "print(sys.argv[2] % dict(a=\"%o\" % (s.st_mode & 0o7777), s=s.st_size, b=s.st_blocks, u=s.st_uid))' \"$1\" \"$2\"; }; ";
                var result = await user.RunAsync(st + "cat notes.txt sub/deep/file.txt; echo; [ -L link-to-shadow ] && readlink link-to-shadow; " +
                    "(cd link-to-sub/ && echo *); [ -e fifo ] && echo fifo-present || echo fifo-absent; [ hard1 -ef hard2 ] && echo hard-linked; " +
                    "printf '%s\\n' bad*name | od -An -c | tr -s ' '; st setuid.sh '%(a)s'; st sparse.bin '%(s)s %(b)s'; tail -c 1 sparse.bin; echo; st . '%(u)s:%(a)s'; id -u");
                var lines = TerminalClient.Stdout(result).Split('\n');
                Assert.Equal("hellodeep", lines[0]);
                Assert.Equal("/etc/shadow", lines[1]); // the link's text, not the host's file
                Assert.Equal("deep", lines[2]);
                Assert.Equal("fifo-absent", lines[3]);
                Assert.Equal("hard-linked", lines[4]);
                Assert.Equal(" b a d 377 n a m e \\n", lines[5]); // a name that is not UTF-8 keeps its bytes
                Assert.Equal("755", lines[6]); // setuid dropped
                var sparse = lines[7].Split(' ');
                Assert.Equal((1L << 30).ToString(CultureInfo.InvariantCulture), sparse[0]);
                // 512-byte blocks: the gigabyte of hole stayed a hole (only the copy's last 64 KB chunk, with the '!', is data).
                // gVisor reports size / 512 as a file's blocks, whatever the host holds: there the host's count is read.
                Assert.InRange(TestBackend.Name == "gvisor" ? HostBlocks(Path.Combine(home, "sparse.bin")) : long.Parse(sparse[1], CultureInfo.InvariantCulture), 1, 256);
                Assert.Equal("!", lines[8]);
                Assert.Equal($"{lines[10]}:700", lines[9]); // the home is the user's own, mode 0700

                Assert.Equal(HomeFilesystems.Ext4Magic, HomeFilesystems.Statfs(home).Type);
                Assert.Empty(Directory.GetDirectories(Path.GetDirectoryName(home)!, "home.unmigrated-*"));
            }
            // The old tree is gone: what is left at the home path is the image's (now unmounted) mount point, empty and root's.
            Assert.Empty(Directory.GetFileSystemEntries(home));
            Assert.True(File.Exists(Path.Combine(Path.GetDirectoryName(home)!, "home.img")));
            await HomeQuotaTests.AssertNothingLeftAsync(state);
        }
        finally
        {
            if (HomeFilesystems.MountsUnder(state).Count == 0) Directory.Delete(state, recursive: true);
        }
    }

    [Fact]
    public async Task PlainHomeLargerThanTheQuota_WhatFitsIsCopied_TheRestIsKeptAsideForRoot()
    {
        const string large = """
            import os, sys
            home, uid = sys.argv[1], int(sys.argv[2])
            os.makedirs(home)
            for i in range(6):
                with open('%s/part%d.bin' % (home, i), 'wb') as f:
                    f.write(os.urandom(5 << 20))
            for name in os.listdir(home):
                os.chown(os.path.join(home, name), uid, uid)
            os.chown(home, uid, uid)
            """;
        var (state, uidBase, home) = OldHome("over-quota", large);
        try
        {
            await using (var terminal = await TerminalTestServer.StartAsync(new() { ["Warden:Terminal:MaxMegabytesPerUser"] = "16" },
                stateDirectory: state, uidBase: uidBase))
            {
                using var user = terminal.For("over-quota", chatId: null);
                var listing = TerminalClient.Stdout(await user.RunAsync("ls"));
                Assert.Contains("part", listing);
                Assert.InRange(HomeFilesystems.Statfs(home).UsedBytes, 1UL, 16UL << 20);
                var aside = Assert.Single(Directory.GetDirectories(Path.GetDirectoryName(home)!, "home.unmigrated-*"));
                Assert.Equal(6, Directory.GetFiles(aside).Length);
                Assert.All(Directory.GetFiles(aside), f => Assert.Equal(5L << 20, new FileInfo(f).Length));
            }
            await HomeQuotaTests.AssertNothingLeftAsync(state);
        }
        finally
        {
            if (HomeFilesystems.MountsUnder(state).Count == 0) Directory.Delete(state, recursive: true);
        }
    }

    /// <summary>A state directory as an older version left it: the user's uid file and their plain home, made by <paramref name="script"/>.</summary>
    private static (string State, int UidBase, string Home) OldHome(string userId, string script)
    {
        var state = TerminalTestServer.NewStateDirectory();
        var uidBase = TerminalTestServer.NewUidBase();
        var userDir = Path.Combine(state, "users", UserWorkspaces.KeyOf(new Warden.Core.Ownership.Principal(Warden.Core.Ownership.Principal.ServerTenant, userId)));
        Directory.CreateDirectory(userDir);
        foreach (var dir in new[] { state, Path.Combine(state, "users"), userDir }) File.SetUnixFileMode(dir, (UnixFileMode)Convert.ToInt32("711", 8));
        File.WriteAllText(Path.Combine(userDir, "uid"), uidBase.ToString(CultureInfo.InvariantCulture));
        var home = Path.Combine(userDir, "home");
        var start = new ProcessStartInfo("python3") { RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "-c", script, home, uidBase.ToString(CultureInfo.InvariantCulture) }) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var errors = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, errors);
        return (state, uidBase, home);
    }

    /// <summary>A host file's allocated 512-byte blocks (stat(1) on the host, outside any sandbox).</summary>
    private static long HostBlocks(string path)
    {
        var start = new System.Diagnostics.ProcessStartInfo("stat") { RedirectStandardOutput = true, ArgumentList = { "-c", "%b", path } };
        using var process = System.Diagnostics.Process.Start(start)!;
        var text = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return long.Parse(text.Trim(), CultureInfo.InvariantCulture);
    }
}
