using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Warden.Core.Limits;
using Warden.Core.Pool;
using Warden.Core.Sandboxing.Docker;
using Warden.Core.Sandboxing.Gvisor;
using Warden.Core.Sessions;
using Warden.Core.Terminals;

namespace Warden.Core.Hosting;

// The options' [Range]/[Required] attributes are checked by validators the options source generator writes at build time:
// ValidateDataAnnotations reads the attributes by reflection, which Native AOT trims away.
[OptionsValidator] internal sealed partial class WardenOptionsAttributes : IValidateOptions<WardenOptions>;
[OptionsValidator] internal sealed partial class LimitsOptionsAttributes : IValidateOptions<LimitsOptions>;
[OptionsValidator] internal sealed partial class SessionOptionsAttributes : IValidateOptions<SessionOptions>;
[OptionsValidator] internal sealed partial class PoolOptionsAttributes : IValidateOptions<PoolOptions>;
[OptionsValidator] internal sealed partial class DockerOptionsAttributes : IValidateOptions<DockerOptions>;
[OptionsValidator] internal sealed partial class GvisorOptionsAttributes : IValidateOptions<GvisorOptions>;
[OptionsValidator] internal sealed partial class TerminalOptionsAttributes : IValidateOptions<TerminalOptions>;
[OptionsValidator] internal sealed partial class EgressOptionsAttributes : IValidateOptions<Egress.EgressOptions>;

public static class OptionsBuilderValidation
{
    /// <summary>Adds a (source-generated) validator for <typeparamref name="TOptions"/>; the AOT-safe ValidateDataAnnotations.</summary>
    public static OptionsBuilder<TOptions> ValidateWith<TOptions, [DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] TValidator>(
        this OptionsBuilder<TOptions> builder)
        where TOptions : class
        where TValidator : class, IValidateOptions<TOptions>
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<TOptions>, TValidator>());
        return builder;
    }
}
