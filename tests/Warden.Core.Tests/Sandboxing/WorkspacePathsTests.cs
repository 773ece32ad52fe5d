using Warden.Core.Execution;
using Warden.Core.Sandboxing;

namespace Warden.Core.Tests.Sandboxing;

public sealed class WorkspacePathsTests
{
    [Theory]
    [InlineData("main.py")]
    [InlineData("pkg/util.py")]
    [InlineData("a/b/c/d.txt")]
    [InlineData(".hidden")]
    [InlineData("..data")]
    public void Validate_RelativeName_ReturnsIt(string name)
    {
        Assert.Equal(name, WorkspacePaths.Validate(name));
    }

    [Theory]
    [InlineData("..")]
    [InlineData("../etc/passwd")]
    [InlineData("a/../../b")]
    [InlineData("a/./b")]
    [InlineData("a//b")]
    [InlineData("a/")]
    [InlineData(".")]
    public void Validate_DotOrEmptySegments_Throws(string name)
    {
        var e = Assert.Throws<InvalidRequestException>(() => WorkspacePaths.Validate(name));

        Assert.Equal("files", e.Parameter);
    }

    [Theory]
    [InlineData("/etc/passwd")]
    [InlineData("/sandbox/main.py")]
    public void Validate_AbsolutePath_Throws(string name)
    {
        var e = Assert.Throws<InvalidRequestException>(() => WorkspacePaths.Validate(name));

        Assert.Contains("relative", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("main\0.py")]
    [InlineData("a\\b.py")]
    [InlineData("..\\..\\x")]
    public void Validate_NulOrBackslash_Throws(string name)
    {
        var e = Assert.Throws<InvalidRequestException>(() => WorkspacePaths.Validate(name));

        Assert.DoesNotContain('\0', e.Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    public void Validate_Empty_Throws(string name)
    {
        Assert.Throws<InvalidRequestException>(() => WorkspacePaths.Validate(name));
    }

    [Fact]
    public void Validate_TooLong_Throws()
    {
        Assert.Throws<InvalidRequestException>(() => WorkspacePaths.Validate(new string('a', 256)));
    }
}
