using Microsoft.Extensions.Configuration;
using Warden.Core.Configuration;

namespace Warden.Core.Tests.Configuration;

/// <summary>
/// The old host-network switch is an alias for the egress ceiling "*" (issue 19), only while the ceiling is unset; an
/// explicit WARDEN_EGRESS_ALLOW, even empty, wins. Sandbox Executor's NETWORK_MODE reaches it through the same key.
/// </summary>
public sealed class NetworkAliasTests
{
    private static IConfiguration From(Dictionary<string, string?> environment) =>
        new ConfigurationBuilder().AddWardenSources(configFile: null, environment: environment).Build();

    [Theory]
    [InlineData("WARDEN_ALLOW_NETWORK", "true", true)]
    [InlineData("WARDEN_ALLOW_NETWORK", "false", false)]
    [InlineData("NETWORK_MODE", "bridge", true)]
    [InlineData("NETWORK_MODE", "host", true)]
    [InlineData("NETWORK_MODE", "none", false)]
    public void OldSwitch_AloneMeansTheWholeCeiling(string variable, string value, bool aliased)
    {
        var configuration = From(new() { [variable] = value });

        Assert.Equal(aliased, NetworkAlias.Applies(configuration));
        Assert.Equal(aliased ? "*" : "", NetworkAlias.Ceiling(configuration));
    }

    [Theory]
    [InlineData("pypi.org", "pypi.org")]
    [InlineData("", "")]
    public void ExplicitCeiling_WinsOverTheOldSwitch(string ceiling, string expected)
    {
        var configuration = From(new() { ["WARDEN_ALLOW_NETWORK"] = "true", ["WARDEN_EGRESS_ALLOW"] = ceiling });

        Assert.False(NetworkAlias.Applies(configuration));
        Assert.Equal(expected, NetworkAlias.Ceiling(configuration));
    }

    [Fact]
    public void Warning_SaysWhatChanged()
    {
        foreach (var words in new[] { "host's network", "WARDEN_EGRESS_ALLOW=*", "metadata", "WARDEN_EGRESS_ALLOW_PRIVATE", "git://" })
            Assert.Contains(words, NetworkAlias.Changed, StringComparison.Ordinal);
    }
}
