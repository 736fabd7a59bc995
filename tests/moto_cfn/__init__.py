"""Stand-ins for the resource types moto's CloudFormation cannot create (a package: moto's
model metaclass derives a service name from the module's dotted name)."""
