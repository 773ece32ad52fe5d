using System.Security.Cryptography;
using System.Text;
using Warden.Server.Hosting;

namespace Warden.Server.Cluster;

/// <summary>Signing keys derived from one master key every replica reads from the database at start-up (<see cref="ClusterMembership"/>).</summary>
public sealed class SharedSigningKeys : ISigningKeys
{
    private byte[]? _master;

    public void Load(string masterHex) => _master = Convert.FromHexString(masterHex);

    public byte[] KeyFor(string purpose) =>
        HMACSHA256.HashData(_master ?? throw new InvalidOperationException("The cluster's signing key is read at start-up; the server has not started."),
            Encoding.UTF8.GetBytes(purpose));
}
