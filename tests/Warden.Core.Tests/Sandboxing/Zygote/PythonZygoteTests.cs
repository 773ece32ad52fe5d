using Warden.Core.Sandboxing.Bubblewrap;
using Warden.Core.Sandboxing.Zygote;

namespace Warden.Core.Tests.Sandboxing.Zygote;

public sealed class PythonZygoteTests
{
    private static readonly BwrapLayout Layout = new("/run/w/etc", ["/usr"], [("usr/lib", "/lib")], ["/opt/extra"]);

    [Fact]
    public void Program_ServesForksWhereTheStubReadsItsGoMessage()
    {
        var program = PythonZygote.Program;

        Assert.StartsWith("def _warden_zygote():", program, StringComparison.Ordinal);
        // The zygote's set-up runs first, the stub's set-up next, and the fork server stands exactly where the stub
        // would read its go-message: once, right before it.
        Assert.Equal(1, Count(program, "_warden_fork()\n"));
        Assert.Contains("    _warden_fork()\n    fields = read_message()\n", program, StringComparison.Ordinal);
        Assert.True(program.IndexOf("_warden_fork = _warden_zygote()", StringComparison.Ordinal) < program.IndexOf("def _warden_stub():", StringComparison.Ordinal));
        Assert.EndsWith("\n_warden_stub()", program, StringComparison.Ordinal);
    }

    [Fact]
    public void Configuration_OneLinePerSetting_InTheOrderTheZygoteBuildsIt()
    {
        var text = PythonZygote.Configuration(Layout, ["/run/w/seccomp-nonet.bpf", "/run/w/seccomp-net.bpf"], "/run/w/root", "/run/w/z.sock");

        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("root\t/run/w/root", lines[0]);
        Assert.StartsWith("parent\t", lines[1], StringComparison.Ordinal);
        Assert.Equal(
            ["socket\t/run/w/z.sock", "ro\t/usr", "link\tusr/lib\t/lib", "etc\t/run/w/etc", "try\t/opt/extra",
             "seccomp\t/run/w/seccomp-nonet.bpf", "seccomp\t/run/w/seccomp-net.bpf"],
            lines[2..]);
    }

    [Theory]
    [InlineData("/run/w/ro\tot")]
    [InlineData("/run/w/ro\not")]
    public void Configuration_PathWithTabOrNewline_Refused(string root)
    {
        Assert.Throws<InvalidOperationException>(() => PythonZygote.Configuration(Layout, [], root, "/run/w/z.sock"));
    }

    private static int Count(string text, string part) => (text.Length - text.Replace(part, "", StringComparison.Ordinal).Length) / part.Length;
}
