using Microsoft.Extensions.Options;
using Warden.Server.Cluster;
using Warden.Server.History;
using Warden.Server.OpenTerminalApi;
using Warden.Server.RateLimiting;

namespace Warden.Server.Hosting;

// The options' [Range]/[Required] attributes are checked by validators the options source generator writes at build time
// (registered with Warden.Core.Hosting.OptionsBuilderValidation.ValidateWith): ValidateDataAnnotations reads them by
// reflection, which Native AOT trims away.
[OptionsValidator] internal sealed partial class HistoryOptionsAttributes : IValidateOptions<HistoryOptions>;
[OptionsValidator] internal sealed partial class AuditOptionsAttributes : IValidateOptions<AuditOptions>;
[OptionsValidator] internal sealed partial class RateLimitOptionsAttributes : IValidateOptions<RateLimitOptions>;
[OptionsValidator] internal sealed partial class ShutdownOptionsAttributes : IValidateOptions<ShutdownOptions>;
[OptionsValidator] internal sealed partial class OpenTerminalOptionsAttributes : IValidateOptions<OpenTerminalOptions>;
[OptionsValidator] internal sealed partial class OpenTerminalUiOptionsAttributes : IValidateOptions<OpenTerminalUiOptions>;
[OptionsValidator] internal sealed partial class ClusterOptionsAttributes : IValidateOptions<ClusterOptions>;
