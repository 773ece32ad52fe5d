using System.Globalization;
using System.Text.RegularExpressions;

namespace Warden.Server.Tests.Fuzz;

/// <summary>
/// Defects the fuzz finds that are being fixed elsewhere, each matched narrowly so that nothing else hides behind it.
/// An entry that no longer reproduces fails the test: delete it when its fix lands.
/// </summary>
internal static partial class KnownDefects
{
    /// <summary>
    /// JupyterAuth (being rewritten for issue 16, not to be edited here) turns a password-mode login cookie whose expiry is
    /// outside DateTimeOffset's range (<c>warden-jupyter-login=999999999999999.x</c>) into a 500: FromUnixTimeSeconds throws.
    /// Such a cookie sent to a Jupyter route without valid credentials reaches that code; <paramref name="certainly"/> asks
    /// whether it does for sure (no credentials at all), which is what tells a stale entry.
    /// </summary>
    public static bool OutOfRangeLoginCookie(FuzzRequest request, bool certainly)
    {
        var path = request.TargetText;
        if (!path.StartsWith("/api", StringComparison.OrdinalIgnoreCase) || path.StartsWith("/api/v1", StringComparison.OrdinalIgnoreCase)) return false;
        if (certainly && (request.Header("Authorization") is not null || path.Contains("token=", StringComparison.Ordinal))) return false;
        var cookie = request.Header("Cookie");
        if (cookie is null) return false;
        foreach (Match m in LoginExpiry().Matches(cookie))
        {
            if (long.TryParse(m.Groups[1].Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var unix)
                && (unix > DateTimeOffset.MaxValue.ToUnixTimeSeconds() || unix < DateTimeOffset.MinValue.ToUnixTimeSeconds())) return true;
        }
        return false;
    }

    [GeneratedRegex(@"warden-jupyter-login=(-?\d+)\.")]
    private static partial Regex LoginExpiry();
}
