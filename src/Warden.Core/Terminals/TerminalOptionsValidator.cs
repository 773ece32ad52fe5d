using Microsoft.Extensions.Options;

namespace Warden.Core.Terminals;

/// <summary>Cross-section rules: the per-user uid range must not overlap the pool's, or a user could share a uid with a stranger's run.</summary>
internal sealed class TerminalOptionsValidator(IOptions<WardenOptions> warden, IOptions<Egress.EgressOptions> egress) : IValidateOptions<TerminalOptions>
{
    public ValidateOptionsResult Validate(string? name, TerminalOptions options)
    {
        var errors = new List<string>();
        var w = warden.Value;
        long userEnd = (long)options.UserUidBase + options.UserUidCount, poolEnd = (long)w.SandboxUidBase + w.SandboxUidCount;
        if (options.UserUidBase < poolEnd && w.SandboxUidBase < userEnd)
            errors.Add($"Warden:Terminal:UserUidBase..+UserUidCount ({options.UserUidBase}..{userEnd - 1}) overlaps the sandbox pool's uids " +
                $"Warden:SandboxUidBase..+SandboxUidCount ({w.SandboxUidBase}..{poolEnd - 1}).");
        if (!options.HomePath.StartsWith('/') || options.HomePath.Length < 2 || options.HomePath.Contains("..", StringComparison.Ordinal))
            errors.Add($"Warden:Terminal:HomePath must be an absolute path such as /home/user (got '{options.HomePath}').");
        // A home's ext4 keeps 256 bytes of inode table per allowed file inside the quota: leave room for the files' data too.
        if (options.MaxFilesPerUser > 0 && options.MaxMegabytesPerUser < 1 + options.MaxFilesPerUser / 2048)
            errors.Add($"Warden:Terminal:MaxMegabytesPerUser ({options.MaxMegabytesPerUser}) is too small for Warden:Terminal:MaxFilesPerUser " +
                $"({options.MaxFilesPerUser}): allow at least {1 + options.MaxFilesPerUser / 2048} MB (the home's filesystem needs 512 bytes per file it may hold, plus 1 MB).");
        if (options.HomesDir is { Length: > 0 } homes && (!Path.IsPathRooted(homes) || homes.Split('/').Contains("..")))
            errors.Add($"Warden:Terminal:HomesDir must be an absolute path (got '{homes}').");
        // Network is egress through Warden's proxy, never the host's network: checked against the ceiling once, here,
        // rather than failing every terminal later.
        if (options.NetworkSetting.Check(Egress.EgressPolicy.Parse(egress.Value.Allow), "Warden:Terminal:Network") is { } wrong)
            errors.Add(wrong);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
