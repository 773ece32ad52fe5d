using Microsoft.Extensions.Options;
using Warden.Core.Ownership;
using Warden.Core.Terminals;
using Warden.Core.Workspaces;

namespace Warden.Core.Tests.Workspaces;

public sealed class UserWorkspacesTests : IDisposable
{
    private readonly string _state = Path.Combine(Path.GetTempPath(), "warden-ws-tests-" + Guid.NewGuid().ToString("N")[..8]);

    private UserWorkspaces Create() => new(Options.Create(new WardenOptions { StateDirectory = _state }), Options.Create(new TerminalOptions { UserUidBase = 500000 }));

    [Fact]
    public void Open_SameUserTwice_KeepsTheSameUidAndHome_AcrossInstances()
    {
        var first = Create().Open(new Principal(Principal.ServerTenant, "alice"));
        var again = Create().Open(new Principal(Principal.ServerTenant, "alice"));
        Assert.Equal(first.Uid, again.Uid);
        Assert.Equal(first.HostHome, again.HostHome);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(first.HostHome));
    }

    [Fact]
    public void Open_DifferentUsers_GetDistinctUidsFromTheRange()
    {
        var workspaces = Create();
        var uids = new[] { "alice", "bob", "../evil", "carol" }.Select(u => workspaces.Open(new Principal(Principal.ServerTenant, u))).ToList();
        Assert.Equal(uids.Count, uids.Select(w => w.Uid).Distinct().Count());
        Assert.All(uids, w => Assert.InRange(w.Uid, 500000, 500000 + 100000));
        Assert.All(uids, w => Assert.StartsWith(Path.Combine(_state, "users"), w.HostHome, StringComparison.Ordinal));
        Assert.Matches("^[0-9a-f]{32}$", uids[2].Key);
    }

    [Fact]
    public void Open_LeavesAnExistingHomeAlone_ItMayBeAnOlderVersionsPlainHomeToMigrate()
    {
        var first = Create().Open(new Principal(Principal.ServerTenant, "carol"));
        File.WriteAllText(Path.Combine(first.HostHome, "kept.txt"), "x");
        File.SetUnixFileMode(first.HostHome, (UnixFileMode)Convert.ToInt32("755", 8));

        var again = Create().Open(new Principal(Principal.ServerTenant, "carol"));

        Assert.True(File.Exists(Path.Combine(again.HostHome, "kept.txt")));
        Assert.Equal((UnixFileMode)Convert.ToInt32("755", 8), File.GetUnixFileMode(again.HostHome));
    }

    [Theory]
    [InlineData(1024, 10000, true)]
    [InlineData(5, 10000, true)]
    [InlineData(4, 10000, false)]
    [InlineData(1, 0, true)]
    public void Validator_HomeSize_MustHoldTheFileQuotasInodeTable(int megabytes, int files, bool valid)
    {
        var validator = new TerminalOptionsValidator(Options.Create(new WardenOptions()), Options.Create(new Warden.Core.Egress.EgressOptions()));

        var result = validator.Validate(null, new TerminalOptions { MaxMegabytesPerUser = megabytes, MaxFilesPerUser = files });

        Assert.Equal(valid, result.Succeeded);
        if (!valid) Assert.Contains("MaxMegabytesPerUser", result.FailureMessage);
    }

    /// <summary>
    /// Warden:Terminal:Network is the egress ceiling (true) or a subset of it, checked at start-up: with an empty ceiling
    /// any network is refused, and a pattern outside the ceiling is refused naming the setting.
    /// </summary>
    [Theory]
    [InlineData("", "true", false)]
    [InlineData("", "pypi.org", false)]
    [InlineData("pypi.org", "true", true)]
    [InlineData("pypi.org,*.pythonhosted.org", "files.pythonhosted.org", true)]
    [InlineData("pypi.org", "*.github.com", false)]
    [InlineData("", "false", true)]
    public void Validator_TerminalNetwork_WithinTheEgressCeiling(string ceiling, string network, bool valid)
    {
        var validator = new TerminalOptionsValidator(Options.Create(new WardenOptions()), Options.Create(new Warden.Core.Egress.EgressOptions { Allow = ceiling }));

        Assert.True(validator.Validate(null, new TerminalOptions()).Succeeded);
        var result = validator.Validate(null, new TerminalOptions { Network = network });

        Assert.Equal(valid, result.Succeeded);
        if (!valid) Assert.Contains("Warden:Terminal:Network", result.FailureMessage, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        try { Directory.Delete(_state, recursive: true); } catch (IOException) { }
    }
}
