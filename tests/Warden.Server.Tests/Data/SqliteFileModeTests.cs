using Warden.Server.Data;

namespace Warden.Server.Tests.Data;

/// <summary>The SQLite database holds key hashes, users and client addresses: it and its -wal/-shm files are 0600.</summary>
public sealed class SqliteFileModeTests : IDisposable
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private readonly string _directory = Directory.CreateTempSubdirectory("warden-sqlite-").FullName;

    [Fact]
    public async Task Open_NewDatabase_ItsWalAndShmFilesAreOwnerOnly()
    {
        var path = Path.Combine(_directory, "warden.db");
        await using (var database = WardenDatabase.Open("sqlite:" + path, _directory))
        {
            // The schema is written on first connect: WAL mode creates -wal and -shm next to the file.
            await using var connection = await database.ConnectAsync(TestContext.Current.CancellationToken);
            foreach (var file in new[] { path, path + "-wal", path + "-shm" })
                Assert.True(File.GetUnixFileMode(file) == OwnerOnly, $"{file} is {File.GetUnixFileMode(file)}");
        }
    }

    [Fact]
    public async Task Open_DatabaseAnOlderVersionLeftReadable_IsMadeOwnerOnly()
    {
        var path = Path.Combine(_directory, "warden.db");
        await using (var first = WardenDatabase.Open("sqlite:" + path, _directory))
        {
            await using var connection = await first.ConnectAsync(TestContext.Current.CancellationToken);
        }
        File.SetUnixFileMode(path, (UnixFileMode)Convert.ToInt32("644", 8));

        await using var database = WardenDatabase.Open("sqlite:" + path, _directory);
        Assert.Equal(OwnerOnly, File.GetUnixFileMode(path));
        Assert.True(await database.PingAsync(TestContext.Current.CancellationToken));
    }

    public void Dispose()
    {
        try { Directory.Delete(_directory, recursive: true); } catch (IOException) { }
    }
}
