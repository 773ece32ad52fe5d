namespace Warden.Core.Egress;

/// <summary>What one grant used: connections dialled, connections refused, payload bytes to and from origins.</summary>
public sealed record EgressUsage(int Connections, int Refused, long BytesSent, long BytesReceived);
