using System.Net;
using Warden.Server.Hosting;

namespace Warden.Server.Tests.NativeApi;

public sealed class UnsupportedFeatureTests
{
    [Fact]
    public void Classify_NotSupported_Is501NotAnInternalError()
    {
        var (status, kind, _) = WardenExceptionHandler.Classify(new NotSupportedException("The gvisor backend does not support sessions."));

        Assert.Equal((int)HttpStatusCode.NotImplemented, status);
        Assert.Equal("not-supported", kind);
    }
}
