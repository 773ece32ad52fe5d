using Warden.Core.Egress;

namespace Warden.Core.Tests.Egress;

public sealed class EgressOptionsValidatorTests
{
    private static IReadOnlyList<string> Errors(EgressOptions options)
    {
        var result = new EgressOptionsValidator().Validate(null, options);
        return result.Failed ? [.. result.Failures] : [];
    }

    [Fact]
    public void Defaults_ValidAndNoEgress()
    {
        Assert.Empty(Errors(new EgressOptions()));
        Assert.True(EgressSettings.From(new EgressOptions()).Ceiling.IsEmpty);
    }

    [Fact]
    public void MalformedPattern_NamesTheSetting() =>
        Assert.Contains(Errors(new EgressOptions { Allow = "pypi.org,*.com" }), e => e.StartsWith("WARDEN_EGRESS_ALLOW ", StringComparison.Ordinal) && e.Contains("*.com", StringComparison.Ordinal));

    [Fact]
    public void MalformedCidr_NamesTheSetting() =>
        Assert.Contains(Errors(new EgressOptions { AllowPrivate = "10.0.0.1/8" }), e => e.StartsWith("WARDEN_EGRESS_ALLOW_PRIVATE ", StringComparison.Ordinal));

    [Fact]
    public void HostsOverrideInRefusedRange_WithoutAllowPrivate_Refused()
    {
        Assert.Contains(Errors(new EgressOptions { Allow = "mirror.internal", Hosts = "mirror.internal=10.1.2.3" }),
            e => e.Contains("WARDEN_EGRESS_HOSTS", StringComparison.Ordinal) && e.Contains("WARDEN_EGRESS_ALLOW_PRIVATE", StringComparison.Ordinal));
        Assert.Empty(Errors(new EgressOptions { Allow = "mirror.internal", Hosts = "mirror.internal=10.1.2.3", AllowPrivate = "10.0.0.0/8" }));
    }

    [Theory]
    [InlineData("mirror.internal")]
    [InlineData("mirror.internal=")]
    [InlineData("=10.1.2.3")]
    [InlineData("10.0.0.1=10.1.2.3")]
    public void HostsMalformed_Refused(string hosts) =>
        Assert.Contains(Errors(new EgressOptions { Hosts = hosts, AllowPrivate = "10.0.0.0/8" }), e => e.StartsWith("WARDEN_EGRESS_HOSTS", StringComparison.Ordinal));

    [Fact]
    public void HostsOverride_RepeatedNameGivesSeveralAddresses()
    {
        var settings = EgressSettings.From(new EgressOptions { Hosts = "a.test=93.184.216.34, A.test.=2606:4700::1111" });
        Assert.Equal(2, settings.Hosts["a.test"].Length);
    }

    [Fact]
    public void CredentialsFile_ReadableByOthers_Refused()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, """[{"host": "api.test", "header": "Authorization", "value": "Bearer x"}]""");
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            Assert.Contains(Errors(new EgressOptions { Allow = "api.test", CredentialsFile = path }), e => e.Contains("chmod 600", StringComparison.Ordinal));

            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            Assert.Empty(Errors(new EgressOptions { Allow = "api.test", CredentialsFile = path }));
            // A credentialed host must be inside the ceiling.
            Assert.Contains(Errors(new EgressOptions { Allow = "pypi.org", CredentialsFile = path }), e => e.Contains("not within WARDEN_EGRESS_ALLOW", StringComparison.Ordinal));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData("""[{"host": "10.0.0.1", "header": "Authorization", "value": "x"}]""")]
    [InlineData("""[{"host": "api.test", "header": "Bad Header", "value": "x"}]""")]
    [InlineData("""[{"host": "api.test", "header": "Authorization", "value": "a\r\nX-Injected: 1"}]""")]
    [InlineData("""[{"host": "api.test", "header": "Authorization", "value": "x", "upstream": "ftp"}]""")]
    [InlineData("""[{"host": "api.test", "header": "Authorization", "value": "x", "extra": 1}]""")]
    [InlineData("""{"host": "api.test"}""")]
    public void CredentialsFile_BadEntries_Refused(string json)
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, json);
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            var errors = Errors(new EgressOptions { Allow = "*", CredentialsFile = path });
            Assert.Contains(errors, e => e.StartsWith("WARDEN_EGRESS_CREDENTIALS_FILE", StringComparison.Ordinal));
            // The secret never appears in a start-up message.
            Assert.DoesNotContain(errors, e => e.Contains("X-Injected", StringComparison.Ordinal));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
