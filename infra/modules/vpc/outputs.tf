output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr_block" {
  description = "IPv4 range of the VPC."
  value       = aws_vpc.this.cidr_block
}

output "private_subnet_ids" {
  description = "Subnets every workload runs in."
  value       = aws_subnet.private[*].id
}

output "public_subnet_ids" {
  description = "Subnets that hold the NAT gateways."
  value       = aws_subnet.public[*].id
}
