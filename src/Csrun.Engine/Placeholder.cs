namespace Csrun.Engine;
