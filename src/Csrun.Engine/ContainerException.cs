namespace Csrun.Engine;

/// <summary>An error to report to the user as is: it already names the field, file or step at fault.</summary>
public class ContainerException(string message, Exception? inner = null) : Exception(message, inner);
