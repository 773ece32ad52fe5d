using Warden.Core.Workspaces;

namespace Warden.Core.Tests.Workspaces;

public sealed class MountTableTests : IDisposable
{
    private readonly string _file = Path.GetTempFileName();

    [Fact]
    public void Read_OptionalFieldsAndEscapes_GiveMountPointTypeAndSource()
    {
        File.WriteAllLines(_file,
        [
            "24 27 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw,size=12334760k",
            @"51 27 7:1 / /var/lib/warden/users/ab\040cd/home rw,nosuid,nodev shared:12 master:3 - ext4 /dev/loop1 rw,discard",
        ]);

        var entries = MountTable.Read(_file);

        Assert.Equal(2, entries.Count);
        Assert.Equal(new MountEntry("/var/lib/warden/users/ab cd/home", "ext4", "/dev/loop1", "rw,nosuid,nodev"), entries[1]);
        Assert.Equal("devtmpfs", entries[0].FsType);
    }

    [Theory]
    [InlineData("plain", "plain")]
    [InlineData(@"a\040b", "a b")]
    [InlineData(@"tab\011nl\012back\134slash", "tab\tnl\nback\\slash")]
    [InlineData(@"short\04", @"short\04")]
    [InlineData(@"not\999octal", @"not\999octal")]
    public void Unescape_DecodesOnlyThreeOctalDigits(string field, string expected) => Assert.Equal(expected, MountTable.Unescape(field));

    public void Dispose() => File.Delete(_file);
}
