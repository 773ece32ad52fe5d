using System.Security.Cryptography;

namespace Warden.Server.Cluster;

/// <summary>
/// Who this replica is in the directory: its id, the incarnation (new at every process start, so sessions of an earlier
/// process under the same id are known to be lost), the URL the other replicas reach it at, and the tag its session ids carry.
/// </summary>
public sealed record ReplicaIdentity(string ReplicaId, string Incarnation, Uri AdvertiseUrl)
{
    public uint Tag { get; } = OwnerTag.Of(ReplicaId, Incarnation);

    public static ReplicaIdentity Create(string replicaId, Uri advertiseUrl) =>
        new(replicaId, Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8)), advertiseUrl);
}
