using System.Diagnostics;
using System.Formats.Tar;
using System.Text;
using Warden.Core.Execution;
using Warden.Core.Sandboxing.Docker;

namespace Warden.Core.Tests.Sandboxing.Docker;

/// <summary>
/// The Docker backend's collection reads a tar the daemon makes from files the sandbox controls: each hostile entry a
/// sandbox (or a broken daemon) could put there is refused or bounded, and the files around it still come back.
/// </summary>
public sealed class DockerArchiveFilesTests
{
    private static readonly Dictionary<string, string> NoInputs = new();

    private static MemoryStream Tar(Action<TarWriter> write)
    {
        var buffer = new MemoryStream();
        using (var writer = new TarWriter(buffer, TarEntryFormat.Pax, leaveOpen: true)) write(writer);
        buffer.Position = 0;
        return buffer;
    }

    private static void File(TarWriter writer, string name, string content) =>
        writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(Encoding.UTF8.GetBytes(content)) });

    private static Task<CollectedFiles> ReadAsync(Stream tar, int maxFiles = 16, long maxBytes = 1 << 20, long budget = 8 << 20,
        IReadOnlyDictionary<string, string>? inputs = null) =>
        DockerArchiveFiles.ReadAsync(tar, "sandbox", inputs ?? NoInputs, maxFiles, maxBytes, budget, TestContext.Current.CancellationToken);

    private static FileSkipReason? ReasonOf(CollectedFiles collected, string name) => collected.Skipped.FirstOrDefault(s => s.Name == name)?.Reason;

    [Fact]
    public async Task ReadAsync_LinksSpecialFilesAndBadNames_RefusedAroundTheRealFiles()
    {
        using var tar = Tar(w =>
        {
            w.WriteEntry(new PaxTarEntry(TarEntryType.Directory, "sandbox/"));
            File(w, "sandbox/a.txt", "a");
            w.WriteEntry(new PaxTarEntry(TarEntryType.SymbolicLink, "sandbox/shadow") { LinkName = "/etc/shadow" });
            w.WriteEntry(new PaxTarEntry(TarEntryType.HardLink, "sandbox/same") { LinkName = "sandbox/a.txt" });
            w.WriteEntry(new PaxTarEntry(TarEntryType.HardLink, "sandbox/host") { LinkName = "etc/shadow" });
            w.WriteEntry(new PaxTarEntry(TarEntryType.Fifo, "sandbox/fifo"));
            w.WriteEntry(new PaxTarEntry(TarEntryType.CharacterDevice, "sandbox/null") { DeviceMajor = 1, DeviceMinor = 3 });
            File(w, "sandbox/../../etc/passwd", "traversal");
            File(w, "/etc/cron.d/evil", "absolute");
            File(w, "sandbox/a//b", "empty segment");
            File(w, "sandbox/bad-\uFFFD", "not utf-8");
            File(w, "sandbox/" + string.Join('/', Enumerable.Repeat("d", 70)) + "/deep.txt", "too deep");
            File(w, "sandbox/z.txt", "z");
        });

        var collected = await ReadAsync(tar);

        Assert.Equal(["a.txt", "same", "z.txt"], collected.Files.Select(f => f.Name));
        Assert.Equal("a", Encoding.UTF8.GetString(collected.Files[1].Content));
        Assert.Equal(FileSkipReason.Symlink, ReasonOf(collected, "shadow"));
        Assert.Equal(FileSkipReason.OverLimit, ReasonOf(collected, "host"));
        Assert.Equal(FileSkipReason.Fifo, ReasonOf(collected, "fifo"));
        Assert.Equal(FileSkipReason.Device, ReasonOf(collected, "null"));
        Assert.Equal(FileSkipReason.BadName, ReasonOf(collected, "../../etc/passwd"));
        Assert.Equal(FileSkipReason.BadName, ReasonOf(collected, "/etc/cron.d/evil"));
        Assert.Equal(FileSkipReason.BadName, ReasonOf(collected, "a//b"));
        Assert.Equal(FileSkipReason.NameNotUtf8, ReasonOf(collected, "bad-\uFFFD"));
        Assert.Contains(collected.Skipped, s => s.Reason == FileSkipReason.TooDeep);
    }

    [Fact]
    public async Task ReadAsync_EntryLargerThanTheResult_SkippedAndTheRestKept()
    {
        using var tar = Tar(w =>
        {
            w.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "sandbox/big") { DataStream = new MemoryStream(new byte[3 << 20]) });
            File(w, "sandbox/small.txt", "small");
        });

        var collected = await ReadAsync(tar, maxBytes: 1 << 20, budget: 8 << 20);

        Assert.Equal(FileSkipReason.TooLarge, ReasonOf(collected, "big"));
        Assert.Equal(["small.txt"], collected.Files.Select(f => f.Name));
        Assert.False(collected.Truncated);
    }

    [Fact]
    public async Task ReadAsync_DataBeyondTheBudget_StopsThereTruncated()
    {
        using var tar = Tar(w =>
        {
            File(w, "sandbox/first.txt", "first");
            w.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "sandbox/huge") { DataStream = new MemoryStream(new byte[16 << 20]) });
            File(w, "sandbox/after.txt", "after");
        });

        var watch = Stopwatch.StartNew();
        var collected = await ReadAsync(tar, maxBytes: 1 << 20, budget: 4 << 20);

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2));
        Assert.Equal(["first.txt"], collected.Files.Select(f => f.Name));
        Assert.Equal(FileSkipReason.TooLarge, ReasonOf(collected, "huge"));
        Assert.True(collected.Truncated);
    }

    [Fact]
    public async Task ReadAsync_HeaderClaiming100GB_NeverReadsItsData()
    {
        // A header whose size field says 100 GB (base-256, as tar writes sizes past 8 GB) over a stream that never ends:
        // reading the data would take forever; the header alone decides.
        var header = new byte[512];
        Encoding.ASCII.GetBytes("sandbox/sparse").CopyTo(header, 0);
        Encoding.ASCII.GetBytes("0000644\0").CopyTo(header, 100);
        Encoding.ASCII.GetBytes("0000000\0").CopyTo(header, 108);
        Encoding.ASCII.GetBytes("0000000\0").CopyTo(header, 116);
        header[124] = 0x80;
        var size = BitConverter.GetBytes(100L << 30);
        Array.Reverse(size);
        size.CopyTo(header, 136 - 8);
        Encoding.ASCII.GetBytes("00000000000\0").CopyTo(header, 136);
        header[156] = (byte)'0';
        Encoding.ASCII.GetBytes("ustar\0" + "00").CopyTo(header, 257);
        Encoding.ASCII.GetBytes("        ").CopyTo(header, 148);
        int sum = header.Sum(b => b);
        Encoding.ASCII.GetBytes(Convert.ToString(sum, 8).PadLeft(6, '0') + "\0 ").CopyTo(header, 148);
        using var stream = new EndlessAfter(header);

        var watch = Stopwatch.StartNew();
        var collected = await ReadAsync(stream);

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2), $"took {watch.Elapsed}");
        Assert.Empty(collected.Files);
        Assert.True(collected.Truncated);
    }

    [Fact]
    public async Task ReadAsync_GarbageOrCutArchive_AnEmptyTruncatedResultNotAnException()
    {
        using var garbage = new MemoryStream(Encoding.ASCII.GetBytes(new string('x', 2000)));
        using var cut = Tar(w => File(w, "sandbox/whole.txt", new string('w', 5000)));
        cut.SetLength(1024);

        var fromGarbage = await ReadAsync(garbage);
        var fromCut = await ReadAsync(cut);

        Assert.Empty(fromGarbage.Files);
        Assert.True(fromGarbage.Truncated);
        Assert.Empty(fromCut.Files);
        Assert.True(fromCut.Truncated);
    }

    [Fact]
    public async Task ReadAsync_UnchangedInputs_LeftOut()
    {
        using var tar = Tar(w =>
        {
            File(w, "sandbox/main.py", "print(1)");
            File(w, "sandbox/out.txt", "out");
        });

        var collected = await ReadAsync(tar, inputs: new Dictionary<string, string> { ["main.py"] = "print(1)" });

        Assert.Equal(["out.txt"], collected.Files.Select(f => f.Name));
    }

    /// <summary>The given bytes, then zeros without end.</summary>
    private sealed class EndlessAfter(byte[] head) : Stream
    {
        private long _position;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            for (int i = 0; i < count; i++) buffer[offset + i] = _position + i < head.Length ? head[_position + i] : (byte)0;
            _position += count;
            return count;
        }

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    [Fact]
    public async Task RepackAsync_KeepsDirectoriesAndFiles_ReownedWithoutSetuid_DropsLinksSpecialsAndBadNames()
    {
        using var tar = Tar(w =>
        {
            w.WriteEntry(new PaxTarEntry(TarEntryType.Directory, "sandbox/") { Uid = 1000, Gid = 1000 });
            w.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "sandbox/main")
            {
                Uid = 1000, Gid = 1000, Mode = (UnixFileMode)Convert.ToInt32("4755", 8), DataStream = new MemoryStream("ELF"u8.ToArray()),
            });
            w.WriteEntry(new PaxTarEntry(TarEntryType.Directory, "sandbox/out/") { Mode = (UnixFileMode)Convert.ToInt32("755", 8) });
            File(w, "sandbox/out/a.txt", "a");
            w.WriteEntry(new PaxTarEntry(TarEntryType.SymbolicLink, "sandbox/shadow") { LinkName = "/etc/shadow" });
            w.WriteEntry(new PaxTarEntry(TarEntryType.HardLink, "sandbox/same") { LinkName = "sandbox/out/a.txt" });
            w.WriteEntry(new PaxTarEntry(TarEntryType.Fifo, "sandbox/fifo"));
            w.WriteEntry(new PaxTarEntry(TarEntryType.CharacterDevice, "sandbox/null") { DeviceMajor = 1, DeviceMinor = 3 });
            File(w, "sandbox/../../etc/passwd", "traversal");
            File(w, "/etc/cron.d/evil", "absolute");
        });

        var packed = await DockerArchiveFiles.RepackAsync(tar, "sandbox", new Warden.Core.Sandboxing.Spec.SandboxUser(200007, 200007), 8 << 20,
            TestContext.Current.CancellationToken);

        var entries = new List<(string Name, TarEntryType Type, int Uid, int Gid, UnixFileMode Mode, string Data)>();
        using (var reader = new TarReader(new MemoryStream(packed)))
            while (reader.GetNextEntry() is { } entry)
                entries.Add((entry.Name, entry.EntryType, entry.Uid, entry.Gid, entry.Mode,
                    entry.DataStream is { } data ? new StreamReader(data).ReadToEnd() : ""));
        Assert.Equal(["main", "out/", "out/a.txt"], entries.Select(e => e.Name));
        Assert.All(entries, e => Assert.Equal((200007, 200007), (e.Uid, e.Gid)));
        Assert.Equal((UnixFileMode)Convert.ToInt32("755", 8), entries[0].Mode); // executable, no setuid
        Assert.Equal("ELF", entries[0].Data);
        Assert.Equal("a", entries[2].Data);
    }

    [Fact]
    public async Task RepackAsync_BeyondTheBudget_IsAnIOException()
    {
        using var tar = Tar(w => File(w, "sandbox/big", new string('x', 1 << 20)));

        await Assert.ThrowsAsync<IOException>(() => DockerArchiveFiles.RepackAsync(tar, "sandbox",
            new Warden.Core.Sandboxing.Spec.SandboxUser(200007, 200007), 64 << 10, TestContext.Current.CancellationToken));
    }
}
