using Microsoft.Extensions.Options;

namespace Warden.Core.Limits;

/// <summary>Cross-field rules the attributes cannot express: every default must fit under its ceiling.</summary>
internal sealed class LimitsOptionsValidator : IValidateOptions<LimitsOptions>
{
    public ValidateOptionsResult Validate(string? name, LimitsOptions options)
    {
        var errors = new List<string>();
        // DataAnnotations does not descend into nested objects: check each LimitValues' own ranges here.
        foreach (var (section, values) in new[] { ("Default", options.Default), ("Ceiling", options.Ceiling), ("Compile", options.Compile) })
        {
            var results = new List<System.ComponentModel.DataAnnotations.ValidationResult>();
            if (!System.ComponentModel.DataAnnotations.Validator.TryValidateObject(values, new(values), results, validateAllProperties: true))
                errors.AddRange(results.Select(r => $"Warden:Limits:{section}:{string.Join(",", r.MemberNames)}: {r.ErrorMessage}"));
        }
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
