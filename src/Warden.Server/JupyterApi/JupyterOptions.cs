namespace Warden.Server.JupyterApi;

/// <summary>
/// Configuration section <c>Warden:Jupyter</c>. Token auth uses <c>Warden:ApiKey</c>; setting <see cref="Password"/>
/// also enables Jupyter's password login (<c>/login</c> with the <c>_xsrf</c> cookie).
/// </summary>
public sealed class JupyterOptions
{
    public const string Section = "Warden:Jupyter";

    /// <summary>Password for <c>POST /login</c> (WARDEN_JUPYTER_PASSWORD); unset disables password login.</summary>
    public string? Password { get; set; }

    /// <summary>The user Jupyter kernels count against for Warden:Sessions:MaxSessionsPerUser.</summary>
    public string User { get; set; } = "jupyter";

    /// <summary>
    /// Network of a kernel whose start request names none (WARDEN_JUPYTER_NETWORK): <c>true</c> is the whole egress
    /// ceiling (WARDEN_EGRESS_ALLOW), a comma list of patterns a subset of it, empty or <c>false</c> none.
    /// </summary>
    public string? Network { get; set; }

    /// <summary>How long a password login stays valid.</summary>
    public double LoginHours { get; set; } = 24;
}
