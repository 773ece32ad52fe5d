using System.Buffers.Binary;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using Warden.Core.Egress;

namespace Warden.Core.Tests.Egress;

/// <summary>The SNI reader on ClientHellos a real <see cref="SslStream"/> sends, whole and re-fragmented.</summary>
public sealed class TlsClientHelloTests
{
    /// <summary>Captures the first flight of a real TLS client that asks for <paramref name="targetHost"/>.</summary>
    private static async Task<byte[]> CaptureHelloAsync(string targetHost)
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(listener.LocalEndPoint!);
        using var server = await listener.AcceptAsync();
        await using var ssl = new SslStream(new NetworkStream(client, ownsSocket: false), false, (_, _, _, _) => false);
        using var cts = new CancellationTokenSource();
        var handshake = ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = targetHost }, cts.Token);
        var received = new List<byte>();
        var buffer = new byte[4096];
        while (TlsClientHello.TryRead(received.ToArray(), out _) == SniParse.Incomplete)
        {
            var n = await server.ReceiveAsync(buffer.AsMemory()).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
            if (n == 0) break;
            received.AddRange(buffer.AsSpan(0, n));
        }
        await cts.CancelAsync();
        server.Close();
        await Assert.ThrowsAnyAsync<Exception>(() => handshake);
        return [.. received];
    }

    /// <summary>The same handshake message split into records of <paramref name="size"/> bytes each.</summary>
    private static byte[] Refragment(byte[] hello, int size)
    {
        var length = BinaryPrimitives.ReadUInt16BigEndian(hello.AsSpan(3));
        var message = hello.AsSpan(5, length).ToArray();
        var result = new List<byte>();
        for (var i = 0; i < message.Length; i += size)
        {
            var part = message.AsSpan(i, Math.Min(size, message.Length - i));
            result.AddRange([22, 3, 1, (byte)(part.Length >> 8), (byte)part.Length]);
            result.AddRange(part.ToArray());
        }
        return [.. result];
    }

    [Fact]
    public async Task RealClientHello_SniFound()
    {
        var hello = await CaptureHelloAsync("allowed.test");

        Assert.Equal(SniParse.Found, TlsClientHello.TryRead(hello, out var sni));
        Assert.Equal("allowed.test", sni);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(100)]
    public async Task FragmentedAcrossRecords_SniFound(int size)
    {
        var hello = Refragment(await CaptureHelloAsync("files.pythonhosted.org"), size);

        Assert.Equal(SniParse.Found, TlsClientHello.TryRead(hello, out var sni));
        Assert.Equal("files.pythonhosted.org", sni);
        // Every prefix asks for more; none is mistaken for a whole hello.
        for (var cut = 0; cut < hello.Length; cut += Math.Max(1, hello.Length / 50))
            Assert.Equal(SniParse.Incomplete, TlsClientHello.TryRead(hello.AsSpan(0, cut), out _));
    }

    [Fact]
    public async Task IpTarget_NoSni()
    {
        // Clients send no server_name for an address.
        var hello = await CaptureHelloAsync("127.0.0.1");

        Assert.Equal(SniParse.NoSni, TlsClientHello.TryRead(hello, out _));
    }

    [Fact]
    public void PlainHttp_NotTls() =>
        Assert.Equal(SniParse.NotTls, TlsClientHello.TryRead("GET / HTTP/1.1\r\n"u8, out _));

    [Fact]
    public void Oversized_TooLarge()
    {
        // A handshake message that claims 64 KiB: refused without reading further.
        byte[] record = [22, 3, 1, 0, 4, 1, 0x01, 0x00, 0x00];
        Assert.Equal(SniParse.TooLarge, TlsClientHello.TryRead(record, out _));
    }

    [Fact]
    public void SixteenKiBOfRecords_TooLarge()
    {
        var many = new List<byte>();
        // A message that says 15 KiB follows, delivered one byte per record: the records outgrow the cap first.
        many.AddRange([22, 3, 1, 0, 4, 1, 0x00, 0x3C, 0x00]);
        while (many.Count < TlsClientHello.MaxBytes + 16) many.AddRange([22, 3, 1, 0, 1, 0]);
        Assert.Equal(SniParse.TooLarge, TlsClientHello.TryRead(many.ToArray(), out _));
    }

    [Fact]
    public async Task SniWithControlByte_Malformed()
    {
        var hello = await CaptureHelloAsync("a.test");
        // A name no DNS label can hold is refused, never compared.
        var text = Encoding.Latin1.GetString(hello);
        var at = text.IndexOf("a.test", StringComparison.Ordinal);
        hello[at] = 0x01;
        Assert.Equal(SniParse.Malformed, TlsClientHello.TryRead(hello, out _));
    }
}
