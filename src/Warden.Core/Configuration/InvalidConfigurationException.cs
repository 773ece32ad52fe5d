namespace Warden.Core.Configuration;

/// <summary>A setting has a value Warden cannot use. The message names the setting; start-up stops.</summary>
public sealed class InvalidConfigurationException(string setting, string message) : InvalidOperationException($"{setting}: {message}")
{
    public string Setting { get; } = setting;
}
