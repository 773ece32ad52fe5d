using Microsoft.Extensions.Options;

namespace Warden.Core.Limits;

/// <summary>Cross-field rules the attributes cannot express: every default must fit under its ceiling.</summary>
internal sealed class LimitsOptionsValidator : IValidateOptions<LimitsOptions>
{
    public ValidateOptionsResult Validate(string? name, LimitsOptions options)
    {
        var errors = new List<string>();
        // Each LimitValues' own ranges are checked by the generated attribute validator ([ValidateObjectMembers]).
        var d = options.Default;
        var c = options.Ceiling;
        void Check(string setting, double value, double ceiling)
        {
            if (value <= 0) errors.Add($"Warden:Limits:{setting} must be greater than 0 (got {value}).");
            if (value > ceiling) errors.Add($"Warden:Limits:Default:{setting} ({value}) is above Warden:Limits:Ceiling:{setting} ({ceiling}).");
        }
        Check("TimeoutSeconds", d.TimeoutSeconds, c.TimeoutSeconds);
        if (d.CpuTimeSeconds > 0) Check("CpuTimeSeconds", d.CpuTimeSeconds, c.CpuTimeSeconds);
        if (c.CpuTimeSeconds <= 0) errors.Add("Warden:Limits:Ceiling:CpuTimeSeconds must be greater than 0.");
        Check("MemoryMb", d.MemoryMb, c.MemoryMb);
        Check("MaxProcesses", d.MaxProcesses, c.MaxProcesses);
        Check("MaxOutputBytes", d.MaxOutputBytes, c.MaxOutputBytes);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
