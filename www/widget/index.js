console.log('chatvisor placeholder');
