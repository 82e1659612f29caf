// csrun runs containers with Linux primitives only.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
