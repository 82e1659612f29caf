// Images are unpacked with Unix ownership, modes and overlayfs: Linux only.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
