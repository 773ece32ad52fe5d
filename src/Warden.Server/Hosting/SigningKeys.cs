using System.Security.Cryptography;
using System.Text;

namespace Warden.Server.Hosting;

/// <summary>
/// Keys for values this server signs now and checks later (Jupyter login cookies), one per purpose. A single server
/// draws a fresh master key at every start (a restart logs everyone out); replicas share one master key from the
/// database, so a cookie issued by one replica is valid on whichever replica the balancer picks next.
/// </summary>
public interface ISigningKeys
{
    byte[] KeyFor(string purpose);
}

internal sealed class ProcessSigningKeys : ISigningKeys
{
    private readonly byte[] _master = RandomNumberGenerator.GetBytes(32);

    public byte[] KeyFor(string purpose) => HMACSHA256.HashData(_master, Encoding.UTF8.GetBytes(purpose));
}
