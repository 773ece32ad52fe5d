using Microsoft.Extensions.Options;

namespace Warden.Core.Egress;

/// <summary>Start-up check of the egress settings: every pattern, range, override and credential must parse.</summary>
internal sealed class EgressOptionsValidator : IValidateOptions<EgressOptions>
{
    public ValidateOptionsResult Validate(string? name, EgressOptions options)
    {
        var errors = new List<string>();
        EgressSettings.TryFrom(options, errors);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
