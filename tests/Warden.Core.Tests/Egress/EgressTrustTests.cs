using System.Security.Cryptography.X509Certificates;
using Warden.Core.Egress;

namespace Warden.Core.Tests.Egress;

/// <summary>
/// The CA files sandboxes trust and their rotation: a Warden up for weeks keeps terminating, every leaf it signs chains
/// to a CA that was already in the bundle a sandbox got up to <see cref="EgressTrust.RotateAfter"/> earlier, and the
/// files are replaced whole (rename), 0644.
/// </summary>
public sealed class EgressTrustTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("warden-egress-trust-").FullName;

    private string Directory_ => Path.Combine(_dir, "egress");

    [Fact]
    public void Files_WrittenAtStart_0644_BundleIsSystemRootsThenBothCas()
    {
        var system = Path.Combine(_dir, "system.pem");
        File.WriteAllText(system, "-----BEGIN CERTIFICATE-----\nSYSTEM\n-----END CERTIFICATE-----");
        using var trust = new EgressTrust(["api.test"], TimeProvider.System, Directory_, system);

        var files = trust.FilesForNewSandbox()!;
        Assert.Equal(Path.Combine(Directory_, "ca-bundle.pem"), files.BundlePath);
        foreach (var path in new[] { files.BundlePath, files.CaPath })
        {
            Assert.Equal((UnixFileMode)Convert.ToInt32("644", 8), File.GetUnixFileMode(path));
            // Owned by Warden's user: root in production (a sandbox's uid can never rewrite what others trust).
            Assert.Equal(Warden.Core.Interop.Libc.geteuid(), Warden.Core.State.FileStatus.OfPath(path)!.Value.Uid);
        }
        var bundle = File.ReadAllText(files.BundlePath);
        Assert.StartsWith("-----BEGIN CERTIFICATE-----\nSYSTEM\n-----END CERTIFICATE-----\n", bundle, StringComparison.Ordinal);
        Assert.EndsWith(trust.Current.CertificatePem + trust.Next.CertificatePem, bundle, StringComparison.Ordinal);
        Assert.Equal(trust.Current.CertificatePem + trust.Next.CertificatePem, File.ReadAllText(files.CaPath));
        Assert.DoesNotContain("PRIVATE KEY", bundle, StringComparison.Ordinal);
        // Nothing but the two files: the temporary names were renamed away.
        Assert.Equal(["ca-bundle.pem", "ca.pem"], Directory.GetFiles(Directory_).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Rotation_KeepsSigningForWeeks_EachLeafTrustedByTheBundleOfThePreviousPeriod()
    {
        var time = new ShiftedTime();
        using var trust = new EgressTrust(["api.test"], time, Directory_);
        var files = trust.Files!;

        for (int day = 0; day <= 30; day++)
        {
            time.Shift = TimeSpan.FromDays(day);
            // A sandbox started at the last rotation (or at start) holds the bundle written then.
            var heldSinceLastRotation = Roots(File.ReadAllText(files.BundlePath));
            int generation = trust.Generation;
            var leaf = trust.LeafFor("api.test");
            Assert.True(leaf.NotAfter.ToUniversalTime() > time.GetUtcNow().UtcDateTime, $"day {day}: leaf expired");
            if (trust.Generation != generation)
            {
                // Rotated just now: the new signer was in the bundle of the period before, and the file changed.
                Assert.True(Chains(heldSinceLastRotation, leaf, time), $"day {day}: the new signer was not in the previous bundle");
                Assert.NotEqual(heldSinceLastRotation.Select(c => c.Thumbprint), Roots(File.ReadAllText(files.BundlePath)).Select(c => c.Thumbprint));
            }
            Assert.True(Chains(Roots(File.ReadAllText(files.BundlePath)), leaf, time), $"day {day}: the current bundle does not trust the leaf");
        }
        Assert.Equal(10, trust.Generation);
    }

    [Fact]
    public void Dispose_RemovesTheFiles()
    {
        var trust = new EgressTrust(["api.test"], TimeProvider.System, Directory_);
        Assert.True(File.Exists(trust.Files!.BundlePath));

        trust.Dispose();

        Assert.False(Directory.Exists(Directory_));
    }

    [Fact]
    public void NoDirectory_NoFiles_StillSigns()
    {
        using var trust = new EgressTrust(["api.test"], TimeProvider.System, directory: null);

        Assert.Null(trust.FilesForNewSandbox());
        Assert.NotNull(trust.LeafFor("api.test"));
    }

    [Fact]
    public void WriteAtomically_ReplacesAnOpenFile_ReaderKeepsTheOldContent()
    {
        Directory.CreateDirectory(Directory_);
        var path = Path.Combine(Directory_, "ca.pem");
        EgressTrust.WriteAtomically(path, "old");
        using var held = File.OpenRead(path);

        EgressTrust.WriteAtomically(path, "new");

        Assert.Equal("new", File.ReadAllText(path));
        // A bind mount holds the inode as a descriptor does: a sandbox started before sees the old file, whole.
        Assert.Equal("old", new StreamReader(held).ReadToEnd());
    }

    private static List<X509Certificate2> Roots(string pem)
    {
        var collection = new X509Certificate2Collection();
        collection.ImportFromPem(pem);
        return [.. collection];
    }

    private static bool Chains(IEnumerable<X509Certificate2> roots, X509Certificate2 leaf, TimeProvider time)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots.ToArray());
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTime = time.GetUtcNow().UtcDateTime;
        return chain.Build(leaf);
    }

    private sealed class ShiftedTime : TimeProvider
    {
        public TimeSpan Shift { get; set; }

        public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + Shift;
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
