using Warden.Core.Egress;

namespace Warden.Core.Tests.Egress;

public sealed class EgressPatternTests
{
    [Theory]
    [InlineData("pypi.org", "pypi.org")]
    [InlineData("PyPI.org.", "pypi.org")]
    [InlineData("*.PythonHosted.org", "*.pythonhosted.org")]
    [InlineData("*", "*")]
    [InlineData("api.test:8443", "api.test:8443")]
    [InlineData("api.test:*", "api.test:*")]
    [InlineData("*:*", "*:*")]
    [InlineData("bücher.example", "xn--bcher-kva.example")]
    public void Parse_Valid_Canonical(string text, string canonical) =>
        Assert.Equal(canonical, EgressPattern.Parse(text).Text);

    [Theory]
    [InlineData("")]
    [InlineData("*.com")]
    [InlineData("*.")]
    [InlineData("a.*.org")]
    [InlineData("pypi*.org")]
    [InlineData("10.0.0.1")]
    [InlineData("2130706433")]
    [InlineData("0x7f.1")]
    [InlineData("127.1")]
    [InlineData("[::1]")]
    [InlineData("::1")]
    [InlineData("pypi.org:0")]
    [InlineData("pypi.org:65536")]
    [InlineData("pypi.org:http")]
    [InlineData("-bad.org")]
    [InlineData("a..b")]
    [InlineData("sp ace.org")]
    public void Parse_Malformed_Refused(string text) =>
        Assert.False(EgressPattern.TryParse(text, out _, out var error) && error is null);

    [Theory]
    // pattern, host, port, connect, matches
    [InlineData("pypi.org", "pypi.org", 443, true, true)]
    [InlineData("pypi.org", "pypi.org", 80, false, true)]
    [InlineData("pypi.org", "pypi.org", 80, true, false)]
    [InlineData("pypi.org", "pypi.org", 443, false, false)]
    [InlineData("pypi.org", "pypi.org", 8443, true, false)]
    [InlineData("pypi.org", "www.pypi.org", 443, true, false)]
    [InlineData("pypi.org", "pypi.org.evil.com", 443, true, false)]
    [InlineData("*.pythonhosted.org", "files.pythonhosted.org", 443, true, true)]
    [InlineData("*.pythonhosted.org", "a.b.pythonhosted.org", 443, true, true)]
    [InlineData("*.pythonhosted.org", "pythonhosted.org", 443, true, false)]
    [InlineData("*.pythonhosted.org", "evilpythonhosted.org", 443, true, false)]
    [InlineData("*", "anything.example", 443, true, true)]
    [InlineData("*", "anything.example", 22, true, false)]
    [InlineData("*:*", "anything.example", 22, true, true)]
    [InlineData("api.test:8443", "api.test", 8443, true, true)]
    [InlineData("api.test:8443", "api.test", 8443, false, true)]
    [InlineData("api.test:8443", "api.test", 443, true, false)]
    public void Matches_Table(string pattern, string host, int port, bool connect, bool expected) =>
        Assert.Equal(expected, EgressPattern.Parse(pattern).Matches(host, port, connect));

    [Theory]
    // request pattern, ceiling pattern, within
    [InlineData("pypi.org", "*", true)]
    [InlineData("*.x.org", "*", true)]
    [InlineData("pypi.org", "pypi.org", true)]
    [InlineData("pypi.org", "*.pypi.org", false)]
    [InlineData("www.pypi.org", "*.pypi.org", true)]
    [InlineData("*.pypi.org", "*.pypi.org", true)]
    [InlineData("*.a.pypi.org", "*.pypi.org", true)]
    [InlineData("*.pypi.org", "pypi.org", false)]
    [InlineData("*", "*.pypi.org", false)]
    [InlineData("*", "pypi.org", false)]
    [InlineData("*.github.com", "*.pythonhosted.org", false)]
    [InlineData("evilpypi.org", "*.pypi.org", false)]
    [InlineData("pypi.org:8443", "pypi.org", false)]
    [InlineData("pypi.org:8443", "pypi.org:*", true)]
    [InlineData("pypi.org:*", "pypi.org", false)]
    [InlineData("pypi.org", "pypi.org:8443", false)]
    [InlineData("pypi.org", "*:*", true)]
    [InlineData("*:*", "*", false)]
    public void IsWithin_Table(string request, string ceiling, bool expected) =>
        Assert.Equal(expected, EgressPattern.Parse(request).IsWithin(EgressPattern.Parse(ceiling)));

    [Fact]
    public void PolicyIsWithin_NamesTheFirstPatternOutside()
    {
        var ceiling = EgressPolicy.Parse("pypi.org,*.pythonhosted.org");
        var request = EgressPolicy.Parse(["pypi.org", "*.github.com", "files.pythonhosted.org"]);

        Assert.False(request.IsWithin(ceiling, out var offending));
        Assert.Equal(1, offending);
        Assert.True(EgressPolicy.Parse("files.pythonhosted.org").IsWithin(ceiling, out _));
    }

    [Fact]
    public void EmptyPolicy_AllowsNothing() =>
        Assert.Null(EgressPolicy.None.Allows("pypi.org", 443, connect: true));

    [Theory]
    [InlineData("127.0.0.1", true)]
    [InlineData("2130706433", true)]
    [InlineData("0x7f000001", true)]
    [InlineData("0177.0.0.1", true)]
    [InlineData("127.1", true)]
    [InlineData("[::1]", true)]
    [InlineData("::ffff:127.0.0.1", true)]
    [InlineData("1.2.3.4.", true)]
    [InlineData("pypi.org", false)]
    [InlineData("1.2.3.example", false)]
    [InlineData("0xdeadbeef.com", false)]
    public void IsLiteral_Table(string host, bool expected) => Assert.Equal(expected, EgressHostName.IsLiteral(host));
}
