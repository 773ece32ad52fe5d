using System.Text;
using Warden.Core.Egress;

namespace Warden.Core.Tests.Egress;

/// <summary>Chunked request bodies: forwarded in canonical form, or not at all when the framing is ambiguous.</summary>
public sealed class ChunkedBodyTests
{
    private static EgressOptions Options(int port) => new()
    {
        Allow = $"allowed.test:{port}",
        Hosts = "allowed.test=127.0.0.1",
        AllowPrivate = $"127.0.0.1/32:{port}",
    };

    private static async Task<string> CopyAsync(string body)
    {
        using var source = new MemoryStream(Encoding.ASCII.GetBytes(body));
        using var destination = new MemoryStream();
        await ChunkedBody.CopyAsync(source, destination, _ => true, TestContext.Current.CancellationToken);
        return Encoding.ASCII.GetString(destination.ToArray());
    }

    [Fact]
    public async Task Post_Chunked_ReachesOriginCanonical_WithoutExtensionsOrTrailers()
    {
        await using var origin = new TestOrigin();
        await using var h = new EgressHarness(Options(origin.Port));

        // Pipelined after the last chunk: a request the origin must never see.
        var answer = await h.SendRawAsync($"POST http://allowed.test:{origin.Port}/echo HTTP/1.1\r\nHost: allowed.test:{origin.Port}\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "5;name=value\r\nhello\r\na\r\n, world!!!\r\n0\r\nX-Trailer: 1\r\n\r\n"
            + $"GET /smuggled HTTP/1.1\r\nHost: allowed.test:{origin.Port}\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 200 ", answer, StringComparison.Ordinal);
        Assert.EndsWith("\r\n\r\n5\r\nhello\r\nA\r\n, world!!!\r\n0\r\n\r\n", answer, StringComparison.Ordinal);
        Assert.DoesNotContain("X-Trailer", answer, StringComparison.Ordinal);
        Assert.Single(origin.Heads);
        Assert.DoesNotContain("smuggled", answer, StringComparison.Ordinal);
        Assert.True((await h.NextRecordAsync()).Allowed);
    }

    [Fact]
    public async Task Post_ChunkedWithBadFraming_ConnectionEndsAndIsRecordedBadRequest()
    {
        await using var origin = new TestOrigin();
        await using var h = new EgressHarness(Options(origin.Port));

        var answer = await h.SendRawAsync($"POST http://allowed.test:{origin.Port}/echo HTTP/1.1\r\nHost: allowed.test:{origin.Port}\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "5\r\nhelloXX\r\n0\r\n\r\n");

        Assert.DoesNotContain("HTTP/1.1 200", answer, StringComparison.Ordinal);
        var record = await h.NextRecordAsync();
        Assert.False(record.Allowed);
        Assert.Equal(EgressReasons.BadRequest, record.Reason);
    }

    [Theory]
    [InlineData("0\r\n\r\n", "0\r\n\r\n")]
    [InlineData("1\r\nx\r\n0\r\n\r\n", "1\r\nx\r\n0\r\n\r\n")]
    [InlineData("00010\r\n0123456789abcdef\r\n0;ext\r\nA: b\r\nC: d\r\n\r\n", "10\r\n0123456789abcdef\r\n0\r\n\r\n")]
    public async Task ValidFraming_WrittenCanonical(string body, string expected) =>
        Assert.Equal(expected, await CopyAsync(body));

    [Theory]
    [InlineData("5\nhello\r\n0\r\n\r\n")]           // bare LF after the size
    [InlineData("5\r\nhello\n0\r\n\r\n")]           // bare LF after the data
    [InlineData("5\rhello\r\n0\r\n\r\n")]           // bare CR
    [InlineData("5 \r\nhello\r\n0\r\n\r\n")]        // whitespace after the size
    [InlineData(" 5\r\nhello\r\n0\r\n\r\n")]        // whitespace before it
    [InlineData("+5\r\nhello\r\n0\r\n\r\n")]        // a sign
    [InlineData("0x5\r\nhello\r\n0\r\n\r\n")]       // a prefix
    [InlineData("\r\nhello\r\n0\r\n\r\n")]          // no size
    [InlineData("10000000000000005\r\nhello\r\n")] // 17 digits: would overflow a 64-bit size
    [InlineData("5\r\nhelloX\r\n0\r\n\r\n")]        // data longer than its size
    [InlineData("5;a\u0001b\r\nhello\r\n0\r\n\r\n")] // a control byte in an extension
    public async Task AmbiguousFraming_Refused(string body) =>
        await Assert.ThrowsAsync<InvalidDataException>(() => CopyAsync(body));

    [Fact]
    public async Task TruncatedBody_Refused() =>
        await Assert.ThrowsAsync<IOException>(() => CopyAsync("5\r\nhel"));

    [Fact]
    public async Task HugeTrailer_Refused() =>
        await Assert.ThrowsAsync<InvalidDataException>(() => CopyAsync("0\r\n" + string.Concat(Enumerable.Repeat("X-A: " + new string('a', 1000) + "\r\n", 20)) + "\r\n"));
}
