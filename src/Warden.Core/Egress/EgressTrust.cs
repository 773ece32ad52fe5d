using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Warden.Core.Egress;

/// <summary>
/// The CAs the proxy terminates TLS with, and the files sandboxes granted egress trust them through. Two generations
/// live at once: <see cref="Current"/> signs the leaves, <see cref="Next"/> is already in every bundle written. Every
/// <see cref="RotateAfter"/> the next becomes current and a new next is minted, so a sandbox that started at any time
/// trusts the signing CA for at least <see cref="RotateAfter"/> (a long-lived session keeps its bundle as bound at its
/// start), and a Warden up for months never reaches a CA's end (<see cref="EgressCertificateAuthority.Validity"/>, 7 days,
/// more than twice <see cref="RotateAfter"/>). Keys stay in memory; only the certificates are written.
/// </summary>
public sealed class EgressTrust : IDisposable
{
    /// <summary>How long one CA signs leaves: it was in bundles for one period before, and stays valid for a day after.</summary>
    public static readonly TimeSpan RotateAfter = TimeSpan.FromDays(3);

    /// <summary>Where the bundle is bound in a sandbox: the host's public roots, then the CAs (replaces the store).</summary>
    public const string SandboxBundlePath = "/etc/warden/ca-bundle.pem";

    /// <summary>Where the CAs alone are bound in a sandbox (NODE_EXTRA_CA_CERTS adds them to node's roots).</summary>
    public const string SandboxCaPath = "/etc/warden/ca.pem";

    private readonly IReadOnlyCollection<string> _hosts;
    private readonly TimeProvider _time;
    private readonly string? _directory;
    private readonly string _systemBundle;
    private readonly Lock _rotate = new();
    private EgressCertificateAuthority? _retired;
    private DateTimeOffset _rotatedAt;

    /// <param name="hosts">The terminated hosts (normalized names).</param>
    /// <param name="directory">Where the files are written (Warden's state directory's <c>egress</c>); null: none.</param>
    /// <param name="systemBundlePath">The host's public roots, concatenated first into the bundle.</param>
    public EgressTrust(IReadOnlyCollection<string> hosts, TimeProvider time, string? directory,
        string systemBundlePath = "/etc/ssl/certs/ca-certificates.crt")
    {
        _hosts = hosts ?? throw new ArgumentNullException(nameof(hosts));
        _time = time ?? throw new ArgumentNullException(nameof(time));
        _directory = directory;
        _systemBundle = File.Exists(systemBundlePath) ? File.ReadAllText(systemBundlePath) : "";
        Current = new EgressCertificateAuthority(hosts, time);
        Next = new EgressCertificateAuthority(hosts, time);
        _rotatedAt = time.GetUtcNow();
        Files = directory is null ? null : new EgressTrustFiles(Path.Combine(directory, "ca-bundle.pem"), Path.Combine(directory, "ca.pem"));
        Write();
    }

    /// <summary>The CA that signs leaves now.</summary>
    public EgressCertificateAuthority Current { get; private set; }

    /// <summary>The CA that signs after the next rotation; sandboxes started now already trust it.</summary>
    public EgressCertificateAuthority Next { get; private set; }

    /// <summary>The host files (null when no directory was given); their contents change atomically at each rotation.</summary>
    public EgressTrustFiles? Files { get; }

    /// <summary>How many rotations happened since start.</summary>
    public int Generation { get; private set; }

    /// <summary>Rotates when due, then returns the files a sandbox starting now binds.</summary>
    public EgressTrustFiles? FilesForNewSandbox()
    {
        RotateIfDue();
        return Files;
    }

    /// <summary>A leaf for <paramref name="host"/> from the current CA, rotating first when due.</summary>
    public X509Certificate2 LeafFor(string host)
    {
        RotateIfDue();
        return Current.LeafFor(host);
    }

    /// <summary>The CAs' certificates (current, next) as PEM.</summary>
    public string CaPem => Current.CertificatePem + Next.CertificatePem;

    /// <summary>The host's public roots followed by both CAs.</summary>
    public string BundlePem()
    {
        var text = new StringBuilder(_systemBundle);
        if (text.Length > 0 && text[^1] != '\n') text.Append('\n');
        return text.Append("# Warden egress CAs (TLS terminated by Warden's proxy for: ").AppendJoin(", ", _hosts).Append(")\n")
            .Append(CaPem).ToString();
    }

    private void RotateIfDue()
    {
        if (_time.GetUtcNow() - _rotatedAt < RotateAfter) return;
        lock (_rotate)
        {
            var now = _time.GetUtcNow();
            if (now - _rotatedAt < RotateAfter) return;
            // The one retired a period ago has signed nothing since and its leaves ended with it; the one retired now may
            // still be in a handshake on another thread, so it waits one period before it is disposed.
            _retired?.Dispose();
            _retired = Current;
            Current = Next;
            Next = new EgressCertificateAuthority(_hosts, _time);
            _rotatedAt = now;
            Generation++;
            Write();
        }
    }

    /// <summary>Both files, each written whole to a temporary name and renamed over the old one: never seen half-written.</summary>
    private void Write()
    {
        if (_directory is null || Files is null) return;
        State.ReadableFiles.CreateDirectory(_directory);
        WriteAtomically(Files.BundlePath, BundlePem());
        WriteAtomically(Files.CaPath, CaPem);
    }

    internal static void WriteAtomically(string path, string text)
    {
        var temporary = path + ".tmp-" + Guid.NewGuid().ToString("N");
        try
        {
            using (var stream = new FileStream(temporary, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                UnixCreateMode = State.ReadableFiles.FileMode,
            }))
            {
                // The umask may have cut the create mode: set it on the descriptor, before anything is in the file.
                File.SetUnixFileMode(stream.SafeFileHandle, State.ReadableFiles.FileMode);
                stream.Write(Encoding.ASCII.GetBytes(text));
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, path, overwrite: true);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }

    public void Dispose()
    {
        // The files go with the CAs: nothing stale for a later start (sandboxes still running hold their binds).
        if (_directory is not null && Directory.Exists(_directory)) Directory.Delete(_directory, recursive: true);
        _retired?.Dispose();
        Current.Dispose();
        Next.Dispose();
    }
}

/// <summary>The host paths of the trust files: bound read-only at <see cref="EgressTrust.SandboxBundlePath"/> and <see cref="EgressTrust.SandboxCaPath"/>.</summary>
public sealed record EgressTrustFiles(string BundlePath, string CaPath);
