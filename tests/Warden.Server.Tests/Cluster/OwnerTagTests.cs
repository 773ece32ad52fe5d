using Warden.Server.Cluster;

namespace Warden.Server.Tests.Cluster;

public sealed class OwnerTagTests
{
    [Fact]
    public void NewId_IsAVersion8Uuid_CarryingTheTag()
    {
        var tag = OwnerTag.Of("r1", "0123456789abcdef");
        var id = OwnerTag.NewId(tag);
        Assert.True(Guid.TryParse(id, out var guid), id);
        Assert.Equal(8, guid.Version);
        Assert.Equal(id, id.ToLowerInvariant());
        Assert.True(OwnerTag.TryParse(id, out var parsed));
        Assert.Equal(tag, parsed);
        Assert.True(OwnerTag.TryParse(id.ToUpperInvariant(), out var upper));
        Assert.Equal(tag, upper);
    }

    [Fact]
    public void NewId_IsRandomBeyondTheTag()
    {
        var tag = OwnerTag.Of("r1", "a");
        var ids = Enumerable.Range(0, 1000).Select(_ => OwnerTag.NewId(tag)).ToHashSet();
        Assert.Equal(1000, ids.Count);
        Assert.All(ids, id => Assert.StartsWith(tag.ToString("x8", System.Globalization.CultureInfo.InvariantCulture), id, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("3f2504e0-4f89-41d3-9a0c-0305e82c3301")]   // a version-4 UUID: a single server's id
    [InlineData("3f2504e0-4f89-81d3-7a0c-0305e82c3301")]   // version 8, wrong variant
    [InlineData("3f2504e04f8981d39a0c0305e82c3301")]       // no dashes
    [InlineData("3f2504e0-4f89-81d3-9a0c-0305e82c330g")]   // not hex
    [InlineData("")]
    [InlineData(null)]
    [InlineData("../../etc/passwd")]
    public void TryParse_AnythingButAnOwnerTaggedId_IsNotOwned(string? id) => Assert.False(OwnerTag.TryParse(id, out _));

    [Fact]
    public void Of_DiffersByReplicaAndByIncarnation()
    {
        Assert.NotEqual(OwnerTag.Of("r1", "a"), OwnerTag.Of("r2", "a"));
        Assert.NotEqual(OwnerTag.Of("r1", "a"), OwnerTag.Of("r1", "b"));
        Assert.Equal(OwnerTag.Of("r1", "a"), OwnerTag.Of("r1", "a"));
        var identity = ReplicaIdentity.Create("r1", new Uri("http://127.0.0.1:8090"));
        Assert.Equal(OwnerTag.Of("r1", identity.Incarnation), identity.Tag);
        Assert.NotEqual(identity.Incarnation, ReplicaIdentity.Create("r1", new Uri("http://127.0.0.1:8090")).Incarnation);
    }
}
