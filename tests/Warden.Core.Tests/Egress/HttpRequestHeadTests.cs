using System.Text;
using Warden.Core.Egress;

namespace Warden.Core.Tests.Egress;

public sealed class HttpRequestHeadTests
{
    private static HeadParse Parse(string text, out HttpRequestHead? head, out string? error) =>
        HttpRequestHead.TryParse(Encoding.Latin1.GetBytes(text), out head, out _, out error);

    [Fact]
    public void Complete_ReadsRequestLineHeadersAndFraming()
    {
        var text = "POST http://a.test/x HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\nX-Empty:\r\n\r\nhello";

        Assert.Equal(HeadParse.Complete, HttpRequestHead.TryParse(Encoding.ASCII.GetBytes(text), out var head, out var consumed, out _));

        Assert.Equal(("POST", "http://a.test/x", "HTTP/1.1", 5L, false), (head!.Method, head.Target, head.Version, head.ContentLength!.Value, head.Chunked));
        Assert.Equal(text.Length - 5, consumed);
        Assert.Equal("", head.Header("x-empty"));
    }

    [Fact]
    public void NoBlankLineYet_Incomplete() =>
        Assert.Equal(HeadParse.Incomplete, Parse("GET / HTTP/1.1\r\nHost: a.test\r\n", out _, out _));

    [Theory]
    [InlineData("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", "both Content-Length and Transfer-Encoding")]
    [InlineData("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", "more than one Content-Length")]
    [InlineData("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 1\r\n\r\n", "invalid Content-Length")]
    [InlineData("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n", "invalid Content-Length")]
    [InlineData("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "Transfer-Encoding other than chunked")]
    [InlineData("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", "more than one Transfer-Encoding")]
    [InlineData("GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n folded\r\n\r\n", "obsolete line folding")]
    [InlineData("GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n\tfolded\r\n\r\n", "obsolete line folding")]
    [InlineData("GET / HTTP/1.1\r\nHost : a\r\n\r\n", "malformed header line")]
    [InlineData("GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", "bare CR or LF in the request head")]
    [InlineData("GET / HTTP/1.1\r\nHost: a\r\nX: caf\u00e9\r\n\r\n", "request head has non-ASCII or control bytes")]
    [InlineData("GET / HTTP/1.1\r\nHost: a\r\nX: a\u0000b\r\n\r\n", "request head has non-ASCII or control bytes")]
    [InlineData("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "more than one Host")]
    [InlineData("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\n\r\n", "Upgrade is not forwarded")]
    [InlineData("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", "malformed request line")]
    [InlineData("GET / HTTP/2.0\r\nHost: a\r\n\r\n", "only HTTP/1.0 and HTTP/1.1 are spoken")]
    [InlineData("G(T / HTTP/1.1\r\nHost: a\r\n\r\n", "malformed request line")]
    public void Hostile_Invalid(string text, string reason)
    {
        Assert.Equal(HeadParse.Invalid, Parse(text, out _, out var error));
        Assert.Equal(reason, error);
    }

    [Fact]
    public void TwentyKiBHead_Invalid()
    {
        var text = "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + new string('a', 20 * 1024) + "\r\n\r\n";
        Assert.Equal(HeadParse.Invalid, Parse(text, out _, out var error));
        Assert.Contains("16 KiB", error, StringComparison.Ordinal);
        // Without a blank line, a full buffer is also the end.
        Assert.Equal(HeadParse.Invalid, Parse(text[..(17 * 1024)], out _, out _));
    }

    [Fact]
    public void HundredAndOneHeaders_Invalid()
    {
        var text = "GET / HTTP/1.1\r\n" + string.Concat(Enumerable.Range(0, 101).Select(i => $"X-{i}: v\r\n")) + "\r\n";
        Assert.Equal(HeadParse.Invalid, Parse(text, out _, out var error));
        Assert.Equal("more than 100 headers", error);
    }

    [Theory]
    [InlineData("GET http://a.test/p?q=1 HTTP/1.1\r\nHost: a.test\r\n\r\n", "a.test", 80, "/p?q=1")]
    [InlineData("GET http://a.test:8080 HTTP/1.1\r\nHost: a.test:8080\r\n\r\n", "a.test", 8080, "/")]
    [InlineData("GET http://A.Test/ HTTP/1.1\r\nHost: a.test.\r\n\r\n", "A.Test", 80, "/")]
    [InlineData("GET /p HTTP/1.1\r\nHost: a.test:81\r\n\r\n", "a.test", 81, "/p")]
    [InlineData("GET http://a.test/ HTTP/1.0\r\n\r\n", "a.test", 80, "/")]
    [InlineData("CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n", "a.test", 443, "")]
    public void Target_Valid(string text, string host, int port, string path)
    {
        Assert.Equal(HeadParse.Complete, Parse(text, out var head, out _));
        Assert.True(EgressTarget.TryFrom(head!, out var target, out var error), error);
        Assert.Equal((host, port, path), (target!.Host, target.Port, target.PathAndQuery));
    }

    [Theory]
    [InlineData("GET https://a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n", "https:// through a proxy must use CONNECT")]
    [InlineData("GET http://u:p@a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n", "userinfo in the request target")]
    [InlineData("GET http://a.test@b.test/ HTTP/1.1\r\nHost: b.test\r\n\r\n", "userinfo in the request target")]
    [InlineData("GET http://a.test/ HTTP/1.1\r\nHost: b.test\r\n\r\n", "Host header differs from the request target")]
    [InlineData("GET http://a.test/ HTTP/1.1\r\nHost: a.test:81\r\n\r\n", "Host header differs from the request target")]
    [InlineData("GET / HTTP/1.1\r\n\r\n", "no Host header")]
    [InlineData("CONNECT a.test HTTP/1.1\r\nHost: a.test\r\n\r\n", "CONNECT needs host:port")]
    [InlineData("CONNECT a.test:99999 HTTP/1.1\r\nHost: a.test\r\n\r\n", "invalid port")]
    [InlineData("GET ftp://a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n", "unsupported request target")]
    [InlineData("GET http://a.test/#f HTTP/1.1\r\nHost: a.test\r\n\r\n", "a fragment in the request target")]
    public void Target_Invalid(string text, string reason)
    {
        Assert.Equal(HeadParse.Complete, Parse(text, out var head, out _));
        Assert.False(EgressTarget.TryFrom(head!, out _, out var error));
        Assert.Equal(reason, error);
    }
}
