using Warden.Core.Limits;

namespace Warden.Core.Tests.Limits;

public sealed class LimitsOptionsValidatorTests
{
    private static readonly LimitsOptionsValidator Validator = new();

    [Fact]
    public void Validate_BuiltInDefaults_Succeeds()
    {
        var result = Validator.Validate(null, new LimitsOptions());

        Assert.True(result.Succeeded, result.FailureMessage);
    }

    [Theory]
    [InlineData("TimeoutSeconds")]
    [InlineData("CpuTimeSeconds")]
    [InlineData("MemoryMb")]
    [InlineData("MaxProcesses")]
    [InlineData("MaxOutputBytes")]
    public void Validate_DefaultAboveCeiling_FailsNamingSetting(string setting)
    {
        var options = new LimitsOptions();
        switch (setting)
        {
            case "TimeoutSeconds": options.Default.TimeoutSeconds = 61; break;
            case "CpuTimeSeconds": options.Default.CpuTimeSeconds = 61; break;
            case "MemoryMb": options.Default.MemoryMb = 4096; break;
            case "MaxProcesses": options.Default.MaxProcesses = 1000; break;
            default: options.Default.MaxOutputBytes = 32 << 20; break;
        }

        var result = Validator.Validate(null, options);

        Assert.True(result.Failed);
        var failure = Assert.Single(result.Failures!);
        Assert.Contains($"Warden:Limits:Default:{setting}", failure, StringComparison.Ordinal);
        Assert.Contains($"Warden:Limits:Ceiling:{setting}", failure, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_DefaultTimeoutZero_Fails()
    {
        var options = new LimitsOptions();
        options.Default.TimeoutSeconds = 0;

        var result = Validator.Validate(null, options);

        Assert.True(result.Failed);
        Assert.Contains("TimeoutSeconds", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_CpuCeilingZero_Fails()
    {
        var options = new LimitsOptions();
        options.Ceiling.CpuTimeSeconds = 0;

        var result = Validator.Validate(null, options);

        Assert.True(result.Failed);
        Assert.Contains("Warden:Limits:Ceiling:CpuTimeSeconds", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_CpuDefaultZero_MeansFollowTimeoutAndSucceeds()
    {
        var options = new LimitsOptions();
        options.Default.CpuTimeSeconds = 0;

        Assert.True(Validator.Validate(null, options).Succeeded);
    }
}
