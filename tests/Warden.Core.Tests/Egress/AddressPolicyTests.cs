using System.Net;
using Warden.Core.Egress;

namespace Warden.Core.Tests.Egress;

public sealed class AddressPolicyTests
{
    private static AddressPolicy Policy(string allowPrivate = "", params IPAddress[] host)
    {
        var rules = allowPrivate.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(r =>
            PrivateRule.TryParse(r, out var rule, out var error) ? rule! : throw new FormatException(error));
        return new AddressPolicy(rules, new HostAddresses(host, watch: false));
    }

    [Theory]
    // One row per refused range of docs/design/egress-proposal.md §3.4, at its edges where it matters.
    [InlineData("0.0.0.0")]
    [InlineData("0.255.255.255")]
    [InlineData("10.0.0.1")]
    [InlineData("10.255.255.255")]
    [InlineData("100.64.0.1")]
    [InlineData("100.100.100.200")]
    [InlineData("100.127.255.255")]
    [InlineData("127.0.0.1")]
    [InlineData("127.255.255.254")]
    [InlineData("169.254.169.254")]
    [InlineData("172.16.0.1")]
    [InlineData("172.31.255.255")]
    [InlineData("192.0.0.192")]
    [InlineData("192.0.2.1")]
    [InlineData("192.88.99.1")]
    [InlineData("192.168.1.1")]
    [InlineData("198.18.0.1")]
    [InlineData("198.19.255.255")]
    [InlineData("198.51.100.1")]
    [InlineData("203.0.113.1")]
    [InlineData("224.0.0.1")]
    [InlineData("239.255.255.250")]
    [InlineData("240.0.0.1")]
    [InlineData("255.255.255.255")]
    [InlineData("::")]
    [InlineData("::1")]
    [InlineData("::127.0.0.1")]
    [InlineData("::ffff:127.0.0.1")]
    [InlineData("::ffff:169.254.169.254")]
    [InlineData("::ffff:10.1.2.3")]
    [InlineData("64:ff9b::7f00:1")]
    [InlineData("64:ff9b::a9fe:a9fe")]
    [InlineData("64:ff9b:1::1")]
    [InlineData("2001::1")]
    [InlineData("2001:0:4136:e378:8000:63bf:3fff:fdd2")]
    [InlineData("2001:db8::1")]
    [InlineData("2002:7f00:1::1")]
    [InlineData("2002:c000:0201::1")]
    [InlineData("fc00::1")]
    [InlineData("fd00:ec2::254")]
    [InlineData("fe80::1")]
    [InlineData("ff02::1")]
    [InlineData("100::1")]
    [InlineData("4000::1")]
    public void Refused_Table(string address)
    {
        Assert.True(AddressPolicy.IsRefusedRange(IPAddress.Parse(address)));
        Assert.Equal(AddressVerdict.PrivateAddress, Policy().Check(IPAddress.Parse(address), 443));
    }

    [Theory]
    [InlineData("93.184.216.34")]
    [InlineData("1.1.1.1")]
    [InlineData("100.63.255.255")]
    [InlineData("100.128.0.1")]
    [InlineData("172.15.255.255")]
    [InlineData("172.32.0.1")]
    [InlineData("192.0.1.1")]
    [InlineData("198.20.0.1")]
    [InlineData("223.255.255.255")]
    [InlineData("::ffff:93.184.216.34")]
    [InlineData("64:ff9b::5db8:d822")]
    [InlineData("2606:4700::1111")]
    [InlineData("2a00:1450:4001::200e")]
    [InlineData("2001:4860::8888")]
    public void Public_Allowed(string address) =>
        Assert.Equal(AddressVerdict.Allowed, Policy().Check(IPAddress.Parse(address), 443));

    [Fact]
    public void HostOwnAddress_RefusedEvenWhenPublic()
    {
        var own = IPAddress.Parse("93.184.216.34");
        Assert.Equal(AddressVerdict.PrivateAddress, Policy("", own).Check(own, 443));
        Assert.Equal(AddressVerdict.PrivateAddress, Policy("", own).Check(IPAddress.Parse("::ffff:93.184.216.34"), 443));
    }

    [Theory]
    [InlineData("10.0.0.0/8", "10.1.2.3", 443, true)]
    [InlineData("10.0.0.0/8", "11.1.2.3", 443, true)] // public anyway
    [InlineData("10.0.0.0/8", "192.168.1.1", 443, false)]
    [InlineData("127.0.0.1/32:8081", "127.0.0.1", 8081, true)]
    [InlineData("127.0.0.1/32:8081", "127.0.0.1", 8082, false)]
    [InlineData("127.0.0.1/32:8081", "::ffff:127.0.0.1", 8081, true)]
    [InlineData("[::1/128]:8081", "::1", 8081, true)]
    [InlineData("[::1/128]:8081", "::1", 80, false)]
    [InlineData("fd00::/8", "fd12::1", 443, true)]
    public void AllowPrivate_OpensOnlyItsRangeAndPort(string rule, string address, int port, bool allowed) =>
        Assert.Equal(allowed ? AddressVerdict.Allowed : AddressVerdict.PrivateAddress, Policy(rule).Check(IPAddress.Parse(address), port));

    [Theory]
    [InlineData("127.0.0.1:8090", "127.0.0.1", 8090, true)]
    [InlineData("127.0.0.1:8090", "::ffff:127.0.0.1", 8090, true)]
    [InlineData("127.0.0.1:8090", "127.0.0.1", 8091, false)]
    [InlineData("0.0.0.0:8090", "127.0.0.1", 8090, true)]
    [InlineData("0.0.0.0:8090", "10.9.9.9", 8090, true)] // the host's own address (below)
    [InlineData("[::]:8090", "127.0.0.1", 8090, true)]
    [InlineData("127.0.0.1:8090", "0.0.0.0", 8090, true)]
    public void OwnEndpoint_RefusedEvenWhenOpened(string endpoint, string address, int port, bool own)
    {
        var policy = Policy("0.0.0.0/0,::/0", IPAddress.Parse("10.9.9.9"));
        policy.AddOwnEndpoints([IPEndPoint.Parse(endpoint)]);

        Assert.Equal(own ? AddressVerdict.OwnEndpoint : AddressVerdict.Allowed, policy.Check(IPAddress.Parse(address), port));
    }

    [Theory]
    [InlineData("10.0.0.1/8")]
    [InlineData("10.0.0.0/33")]
    [InlineData("10.0.0.0")]
    [InlineData("10.0.0.0/8:0")]
    [InlineData("[::1/128]8081")]
    [InlineData("not-an-address/8")]
    public void PrivateRule_Malformed_Refused(string text) =>
        Assert.False(PrivateRule.TryParse(text, out _, out _));
}
