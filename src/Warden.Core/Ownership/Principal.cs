namespace Warden.Core.Ownership;

/// <summary>
/// Who owns a stateful object — a session, a Jupyter kernel, a user's terminal sandbox and everything in it: a
/// <see cref="Tenant"/> (one stored API key, or <see cref="ServerTenant"/>, which the bootstrap key, a server without
/// keys and Open WebUI users authenticated by their own token or forwarded JWT share) and a <see cref="User"/> inside
/// that tenant's namespace. A user name means nothing across tenants: two keys naming the same user are two principals.
/// </summary>
public sealed record Principal
{
    /// <summary>The server operator's tenant: the bootstrap key (<c>WARDEN_API_KEY</c>), no key at all, and the Open WebUI
    /// deployment whose users' tokens or JWTs the server validates (they are the same users its backend names).</summary>
    public const string ServerTenant = "server";

    /// <summary>Users logged in with the Jupyter password: a tenant of its own, so that neither a server's open native API
    /// nor anything but the password reaches their kernels.</summary>
    public const string JupyterPasswordTenant = "jupyter-password";

    /// <summary>The user of a caller that names none.</summary>
    public const string DefaultUser = "default";

    /// <summary>The longest user id accepted, characters.</summary>
    public const int MaxUserLength = 256;

    /// <exception cref="ArgumentException">An empty or invalid part (see <see cref="IsValidName"/>): callers check first.</exception>
    public Principal(string tenant, string user)
    {
        if (!IsValidName(tenant)) throw new ArgumentException("Invalid tenant.", nameof(tenant));
        if (!IsValidName(user)) throw new ArgumentException("Invalid user id.", nameof(user));
        Tenant = tenant;
        User = user;
    }

    /// <summary>
    /// Non-empty, at most <see cref="MaxUserLength"/> characters, no control characters: user ids arrive from headers,
    /// bodies and tokens, and end up in keys, logs and directory names, where a newline or NUL could make two differ
    /// in one place and collide in another.
    /// </summary>
    public static bool IsValidName(string? name) =>
        name is { Length: > 0 and <= MaxUserLength } && !name.Any(char.IsControl);

    public string Tenant { get; }

    public string User { get; }

    /// <summary>The tenant of a stored API key.</summary>
    public static string KeyTenant(string keyId) => "key:" + keyId;

    public override string ToString() => Tenant + "/" + User;
}
